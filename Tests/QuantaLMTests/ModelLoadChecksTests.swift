import Foundation
import GGUF
import QuantaLM
import Testing

/// What `LanguageModel.load` refuses before building anything: the model metadata checks of
/// RELIABILITY.md A14 (run at load, not only by tests) and legacy containers (issue 17, item 7).
@Suite struct ModelLoadChecksTests {
  static func file(_ edit: (inout GGUFWriter) -> Void) throws -> GGUFFile {
    var w = GGUFWriter()
    w.set("general.architecture", .string("llama"))
    w.set("tokenizer.ggml.tokens", .array(GGUFArray(.string(["<unk>", "<s>", "</s>", "a"]))))
    edit(&w)
    let path = FileManager.default.temporaryDirectory
      .appendingPathComponent("quanta-load-checks-\(UUID().uuidString).gguf").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    try w.write(to: path)
    return try GGUFFile(path: path)
  }

  @Test func metadataChecksRunAtLoad() throws {
    let badUnknown = try Self.file { $0.set("tokenizer.ggml.unknown_token_id", .uint32(99)) }
    #expect(
      throws: GGUFError.inconsistentMetadata(
        key: "tokenizer.ggml.unknown_token_id", reason: "token id 99 ≥ vocabulary size 4")
    ) { try ModelConfig(file: badUnknown) }
    let badBase = try Self.file { $0.set("llama.rope.freq_base", .float32(-1)) }
    #expect(
      throws: GGUFError.valueOutOfRange(
        key: "llama.rope.freq_base", value: "-1.0", reason: "must be a finite number > 0")
    ) { try ModelConfig(file: badBase) }
  }

  @Test func tinyModelsStillLoad() throws {
    for arch in TinySpec.Arch.allCases {
      let path = try TinyModel.write(TinySpec.make(arch))
      defer { try? FileManager.default.removeItem(atPath: path) }
      _ = try ModelConfig(file: try GGUFFile(path: path))
    }
  }

  /// A GGJT v3 file: hparams n_vocab, n_embd, n_mult, n_head, n_layer, n_rot, ftype; no epsilon.
  @Test func legacyGGJTIsRefusedWithTheReason() throws {
    var bytes: [UInt8] = []
    func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    u32(0x6767_6a74)  // "ggjt"
    u32(3)
    for h: UInt32 in [1, 8, 256, 2, 1, 4, 1] { u32(h) }
    u32(1)  // one token: "a", score 0
    bytes += Array("a".utf8)
    u32(0)
    let file = try GGUFFile(bytes: bytes)
    #expect(file.format == .ggjt(version: 3))
    do {
      _ = try ModelConfig(file: file)
      Issue.record("a GGJT model was accepted")
    } catch let error as ModelError {
      guard case .unsupportedFormat(let format, let reason) = error else {
        Issue.record("unexpected error \(error)")
        return
      }
      #expect(format == "GGJT v3")
      #expect(reason.contains("layer_norm_rms_epsilon"))
      #expect(
        error.description.hasPrefix("GGJT v3 models cannot be run: the format has no layer_norm_rms_epsilon"))
    }
  }
}
