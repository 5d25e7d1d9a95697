import GGML
import Testing

/// Tier 1 (TESTING.md): the reference codecs against ggml's own output, every byte and every float
/// bit, for each golden type × case. A type whose codec is missing fails here by design.
@Suite struct GoldenTests {
  @Test("quantize reproduces ggml's bytes", arguments: Golden.types, Golden.cases)
  func quantize(type: GGMLType, testCase: String) throws {
    if let mismatch = try Self.quantizeMismatch(type, testCase) {
      Issue.record("\(type.name).\(testCase): \(mismatch)")
    }
  }

  @Test("dequantize reproduces ggml's floats", arguments: Golden.types, Golden.cases)
  func dequantize(type: GGMLType, testCase: String) throws {
    if let mismatch = try Self.dequantizeMismatch(type, testCase) {
      Issue.record("\(type.name).\(testCase).dequant: \(mismatch)")
    }
  }

  @Test("dequantizeF16 is the f16 rounding of ggml's floats", arguments: Golden.types, Golden.cases)
  func dequantizeF16(type: GGMLType, testCase: String) throws {
    let golden = try Golden.load()
    let blocks = try golden.quantized(type, testCase)
    let expected = try golden.dequantized(type, testCase).map(independentFp32ToFp16)
    let got = try type.dequantizeF16(blocks, count: Golden.elementsPerCase)
    if let mismatch = Compare.halves(got, expected) {
      Issue.record("\(type.name).\(testCase) dequantizeF16: \(mismatch)")
    }
  }

  /// One line per type and a total, so a run shows at a glance which codecs conform.
  @Test("tally over all golden types and cases")
  func tally() throws {
    _ = try Golden.load()  // a missing file fails here, with its path
    var failedTypes: [String] = []
    var lines: [String] = []
    var totalFailures = 0
    for type in Golden.types {
      var quantOK = 0
      var dequantOK = 0
      for testCase in Golden.cases {
        if Self.conforms({ try Self.quantizeMismatch(type, testCase) }) { quantOK += 1 }
        if Self.conforms({ try Self.dequantizeMismatch(type, testCase) }) { dequantOK += 1 }
      }
      let n = Golden.cases.count
      let failures = 2 * n - quantOK - dequantOK
      totalFailures += failures
      if failures > 0 { failedTypes.append(type.name) }
      lines.append(
        "\(type.name.padding(toLength: 7, withPad: " ", startingAt: 0)) quantize \(quantOK)/\(n)  dequantize \(dequantOK)/\(n)"
      )
    }
    let total = 2 * Golden.types.count * Golden.cases.count
    print(
      "golden tally (\(Golden.types.count) types × \(Golden.cases.count) cases):\n"
        + lines.joined(separator: "\n") + "\n\(total - totalFailures)/\(total) conform")
    #expect(totalFailures == 0, "non-conforming types: \(failedTypes.joined(separator: ", "))")
  }

  /// The golden file itself: every expected tensor present with the right type and size.
  @Test("golden file holds 16 types × 10 cases")
  func goldenFileIsComplete() throws {
    let golden = try Golden.load()
    for testCase in Golden.cases {
      #expect(throws: Never.self) { _ = try golden.input(testCase) }
      for type in Golden.types {
        #expect(throws: Never.self) { _ = try golden.quantized(type, testCase) }
        #expect(throws: Never.self) { _ = try golden.dequantized(type, testCase) }
      }
    }
  }

  /// True when `check` finds no mismatch; a thrown error (no codec, bad tensor) counts as a failure.
  static func conforms(_ check: () throws -> String?) -> Bool {
    do { return try check() == nil } catch { return false }
  }

  static func quantizeMismatch(_ type: GGMLType, _ testCase: String) throws -> String? {
    let golden = try Golden.load()
    let input = try golden.input(testCase)
    let expected = try golden.quantized(type, testCase)
    let got = try type.quantize(input)
    return Compare.bytes(got, expected, blockBytes: type.typeSize)
  }

  static func dequantizeMismatch(_ type: GGMLType, _ testCase: String) throws -> String? {
    let golden = try Golden.load()
    let blocks = try golden.quantized(type, testCase)
    let expected = try golden.dequantized(type, testCase)
    let got = try type.dequantize(blocks, count: Golden.elementsPerCase)
    return Compare.floatBits(got, expected)
  }
}
