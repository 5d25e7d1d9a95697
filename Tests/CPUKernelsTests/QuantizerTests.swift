import CPUKernels
import GGML
import Testing

/// Activation quantizers: byte for byte the reference codecs (ggml's quantize_row_q8_*_ref), scales,
/// sums and bsums included, on every ISA.
@Suite struct QuantizerTests {
  static let dotTypes: [GGMLType] = [.q8_0, .q8_1, .q8_K]

  /// Inputs that stress the rounding: values landing exactly on .5 after scaling (the reference
  /// rounds q8_0/q8_1 half away from zero, q8_K half to even), an all-zero block, a block whose
  /// largest magnitude appears with both signs, tiny and huge scales.
  static func inputs(_ type: GGMLType) -> [(String, [Float])] {
    let qk = type.blockSize
    var cases: [(String, [Float])] = []
    cases.append(("ggml data", ggmlTestData(offset: 0, count: 4096)))
    cases.append(("one block", sampleValues(count: qk, seed: 7)))
    cases.append(("varying blocks", sampleValues(count: 16 * qk, seed: 11, blockSize: qk)))
    // amax 127 makes d = 1 (q8_0/q8_1); max -127 makes iscale = 1 (q8_K): k + 0.5 stays a tie.
    var ties = [Float](repeating: 0, count: 2 * qk)
    for j in 0..<qk { ties[j] = Float(j % 64) - 31.5 }
    ties[0] = -127
    for j in qk..<(2 * qk) { ties[j] = Float((j % 7)) * 0.5 - 1.5 }
    ties[qk] = -127
    cases.append(("ties", ties))
    var zeros = sampleValues(count: 3 * qk, seed: 3)
    for j in qk..<(2 * qk) { zeros[j] = 0 }
    cases.append(("zero block", zeros))
    var signs = sampleValues(count: qk, seed: 5)
    signs[3] = 9
    signs[17 % qk] = -9
    cases.append(("both signs at max", signs))
    cases.append(("tiny", sampleValues(count: qk, seed: 9).map { $0 * 1e-6 }))
    cases.append(("large", sampleValues(count: qk, seed: 13).map { $0 * 1e4 }))
    return cases
  }

  @Test("activation quantizer equals the reference byte for byte", arguments: ISA.supported, dotTypes)
  func matchesReference(isa: ISA, type: GGMLType) throws {
    let table = try isa.table
    for (name, values) in Self.inputs(type) {
      let expected = try type.quantize(values)
      let got = try kernelQuantize(table, dot: type, values)
      let firstDiff = zip(expected, got).enumerated().first { $0.element.0 != $0.element.1 }?.offset
      #expect(
        firstDiff == nil,
        "\(isa) \(type) [\(name)]: first differing byte \(firstDiff ?? -1) (block \((firstDiff ?? 0) / type.typeSize))"
      )
    }
  }
}
