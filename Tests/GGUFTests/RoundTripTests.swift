import Foundation
import GGUF
import Testing

@Suite struct GGUFRoundTripTests {
  @Test func goldenFileParses() throws {
    let f = try GGUFFile(path: goldenPath)
    #expect(f.format == .gguf(version: 3))
    #expect(f.version == 3)
    #expect(f.alignment == 32)
    #expect(f.tensors.count == 330)  // README: 330 tensors
    #expect(f.fileSize == 3_369_216)
    let t = try #require(f.tensor(named: "q4_0.cos"))
    #expect(t.type == .q4_0)
    #expect(t.shape == [4096])
    #expect(t.byteCount == 4096 / 32 * 18)
    #expect(t.offset % 32 == 0 && t.offset >= f.dataOffset)
    #expect(f.data(for: t).count == t.byteCount)
    #expect(try f.metadata.string("general.description").hasPrefix("GGML reference"))
    #expect(try f.metadata.uint32("golden.elements_per_case") == 4096)
  }

  /// Read the golden file and write it back: the bytes must be identical (metadata order, tensor
  /// order, alignment, padding).
  @Test func goldenFileRoundTripsByteForByte() throws {
    let f = try GGUFFile(path: goldenPath)
    var w = GGUFWriter(alignment: f.alignment)
    for (k, v) in f.metadata.entries { w.set(k, v) }
    for t in f.tensors {
      let file = f
      w.addTensor(name: t.name, type: t.type, shape: t.shape) { out in
        file.withData(for: t) { out.copyMemory(from: $0) }
      }
    }
    let out = temporaryPath()
    defer { try? FileManager.default.removeItem(atPath: out) }
    try w.write(to: out)
    let original = try Data(contentsOf: URL(fileURLWithPath: goldenPath))
    let copy = try Data(contentsOf: URL(fileURLWithPath: out))
    #expect(copy.count == original.count)
    #expect(copy == original)
  }
}
