import CPUKernels
import GGML
import Testing

/// Activation quantizers: byte for byte what ggml's CPU backend does on x86, scales, sums and
/// bsums included, on every ISA: q8_K is its quantize_row_q8_K_ref (the reference codec); q8_0 and
/// q8_1 are its AVX quantize_row_q8_0 / _q8_1, which differ from the *_ref codecs (multiplier
/// 127/amax instead of 1/d, ties rounded to even instead of away from zero), modelled below.
@Suite struct QuantizerTests {
  static let dotTypes: [GGMLType] = [.q8_0, .q8_1, .q8_K]

  /// ggml's x86 quantize_row_q8_0 / _q8_1 (ggml-cpu/arch/x86/quants.c), one block at a time.
  static func x86Quantize(_ type: GGMLType, _ values: [Float]) -> [UInt8] {
    var out: [UInt8] = []
    for b in stride(from: 0, to: values.count, by: 32) {
      let block = values[b..<(b + 32)]
      let amax = block.reduce(Float(0)) { max($0, abs($1)) }
      let d = amax / 127
      let id: Float = amax != 0 ? 127 / amax : 0
      let q = block.map { Int8(($0 * id).rounded(.toNearestOrEven)) }
      let dBits = fp32ToFp16(d)
      out += [UInt8(dBits & 0xFF), UInt8(dBits >> 8)]
      if type == .q8_1 {
        let sBits = fp32ToFp16(Float(q.reduce(0) { $0 + Int($1) }) * d)
        out += [UInt8(sBits & 0xFF), UInt8(sBits >> 8)]
      }
      out += q.map { UInt8(bitPattern: $0) }
    }
    return out
  }

  /// Inputs that stress the rounding: values landing exactly on .5 after scaling (ggml's x86
  /// quantizers round half to even; the q8_0/q8_1 reference codecs would round away), an all-zero block, a block whose
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

  @Test("activation quantizer equals ggml's x86 quantizer byte for byte", arguments: ISA.supported, dotTypes)
  func matchesGGML(isa: ISA, type: GGMLType) throws {
    let table = try isa.table
    for (name, values) in Self.inputs(type) {
      let expected = type == .q8_K ? try type.quantize(values) : Self.x86Quantize(type, values)
      let got = try kernelQuantize(table, dot: type, values)
      let firstDiff = zip(expected, got).enumerated().first { $0.element.0 != $0.element.1 }?.offset
      #expect(
        firstDiff == nil,
        "\(isa) \(type) [\(name)]: first differing byte \(firstDiff ?? -1) (block \((firstDiff ?? 0) / type.typeSize))"
      )
    }
  }
}

extension QuantizerTests {
  /// The ties case separates the two q8_0 roundings, so the test above could not pass with the
  /// reference codec's rounding by accident.
  @Test func tiesSeparateX86FromReference() throws {
    let ties = try #require(Self.inputs(.q8_0).first { $0.0 == "ties" }?.1)
    #expect(Self.x86Quantize(.q8_0, ties) != (try GGMLType.q8_0.quantize(ties)))
  }
}
