import Foundation
import GGML
import GGUF
import Testing

@testable import QuantaTools

@Suite("inspect report")
struct InspectTests {
  @Test("Text: header, summarized metadata, one row per tensor, totals per type")
  func text() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let path = dir.file("m.gguf")
    try SmallModel().write(to: path)
    let report = try InspectReport(path: path)
    let text = report.text()
    #expect(text.contains("format:      GGUF v3"))
    #expect(text.contains("alignment:   32"))
    #expect(text.contains("tensors:     11"))
    // A 100-element string array is summarized with its count and first values.
    #expect(text.contains("[string × 32: \"tok0\", \"tok1\", \"tok2\", …]"))
    // The 216-character name is cut, with its full length said.
    #expect(text.contains("… (216 chars)"))
    let rows = text.split(separator: "\n").filter { $0.contains("blk.1.attn_v.weight") }
    #expect(rows.count == 1)
    let cells = rows.first.map { $0.split(separator: " ", omittingEmptySubsequences: true) } ?? []
    // name, type, shape [256, 8], 256·8·4 bytes.
    #expect(cells.contains("blk.1.attn_v.weight") && cells.contains("f32") && cells.contains("8192"))
    #expect(text.contains("[256, 8]"))
    #expect(text.contains("totals by type:"))
    #expect(
      report.typeTotals == [
        InspectReport.TypeTotal(type: .f32, count: 11, bytes: report.totalTensorBytes, percent: 100)
      ])
    // --full shows the whole name.
    #expect(report.text(full: true).contains("tiny test model " + String(repeating: "x", count: 200) + "\""))
  }

  @Test("JSON: one parsable document with header, ordered metadata and tensor rows")
  func json() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let path = dir.file("m.gguf")
    let model = SmallModel()
    try model.write(to: path)
    let file = try GGUFFile(path: path)
    let text = try InspectReport(file: file).json()
    let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    #expect(object["format"] as? String == "gguf")
    #expect(object["version"] as? Int == 3)
    #expect(object["tensor_count"] as? Int == 11)
    #expect(object["file_size"] as? Int == file.fileSize)
    let tensors = try #require(object["tensors"] as? [[String: Any]])
    #expect(tensors.map { $0["name"] as? String } == model.tensors.map(\.name))
    let v = try #require(tensors.first { $0["name"] as? String == "blk.1.attn_v.weight" })
    #expect(v["type"] as? String == "f32")
    #expect(v["shape"] as? [Int] == [256, 8])
    #expect(v["bytes"] as? Int == 8192)
    #expect(v["offset"] as? Int == file.tensor(named: "blk.1.attn_v.weight")?.offset)
    let meta = try #require(object["metadata"] as? [[String: Any]])
    #expect(meta.map { $0["key"] as? String } == model.metadata.map(\.0))
    let tokens = try #require(meta.first { $0["key"] as? String == "tokenizer.ggml.tokens" })
    #expect(tokens["count"] as? Int == 32)
    #expect((tokens["value"] as? [String])?.count == 16)
    #expect(tokens["truncated"] as? Bool == true)
    let name = try #require(meta.first { $0["key"] as? String == "general.name" })
    #expect((name["value"] as? String)?.count == 216)  // strings are whole in JSON
    let full = try #require(
      try JSONSerialization.jsonObject(with: Data(InspectReport(file: file).json(full: true).utf8))
        as? [String: Any])
    let fullTokens = (full["metadata"] as? [[String: Any]])?.first {
      $0["key"] as? String == "tokenizer.ggml.tokens"
    }
    #expect((fullTokens?["value"] as? [String])?.count == 32)
  }

  @Test("JSON survives NaN/Inf floats (JSON has none): they become strings")
  func nonFinite() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    var writer = GGUFWriter()
    writer.set("x.nan", .float32(.nan))
    writer.set("x.inf", .array(GGUFArray(.float32([1, .infinity, -.infinity]))))
    let path = dir.file("nan.gguf")
    try writer.write(to: path)
    let text = try InspectReport(path: path).json()
    let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    let meta = try #require(object["metadata"] as? [[String: Any]])
    #expect(meta[0]["value"] as? String == "nan")
    #expect((meta[1]["value"] as? [Any])?.count == 3)
    #expect(object["tensor_count"] as? Int == 0)
  }

  @Test("A bad file is the reader's typed error")
  func badFile() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    try Data([0x47, 0x47, 0x55, 0x46, 3, 0]).write(to: URL(fileURLWithPath: dir.file("cut.gguf")))
    #expect(throws: GGUFError.self) { try InspectReport(path: dir.file("cut.gguf")) }
  }
}
