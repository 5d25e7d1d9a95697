import GGML
import QuantaBench
import QuantaQuantize
import Testing

@Suite("bench quantize")
struct BenchTests {
  @Test("A row per type: quantize measured only where a quantizer exists")
  func rows() throws {
    let types: [GGMLType] = [.q8_0, .q4_K, .iq2_xxs]
    let rows = try QuantizeBench.run(size: 300, types: types, minSeconds: 0)
    #expect(rows.map(\.type) == types)
    for row in rows {
      #expect((row.quantizeMBps == nil) == (row.type.quantizer == nil), "\(row.type)")
      #expect(row.dequantizeMBps > 0)
      if let q = row.quantizeMBps { #expect(q > 0) }
    }
    #expect(rows[0].bitsPerWeight == 8.5)
    let table = QuantizeBench.table(rows, size: 512)
    #expect(table.contains("q8_0") && table.contains("dequantize MB/s"))
  }

  @Test("--types parsing: names and comma lists, case-insensitive; unknown names are errors")
  func parsing() throws {
    #expect(try QuantizeBench.parseTypes(["q4_0,Q4_K", "iq4_nl"]) == [.q4_0, .q4_K, .iq4_nl])
    #expect(throws: QuantaToolError.unknownBenchType("q9_9")) { try QuantizeBench.parseTypes(["q9_9"]) }
    #expect(throws: QuantaToolError.noDequantizer(type: .i32, tensor: "bench input")) {
      try QuantizeBench.run(size: 256, types: [.i32], minSeconds: 0)
    }
  }
}
