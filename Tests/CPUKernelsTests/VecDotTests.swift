import CPUKernels
import GGML
import Testing

/// vec_dot of every quantized type on every ISA.
@Suite struct VecDotTests {
  /// Double-precision dot of the reference-dequantized operands. For q4_1/q5_1 one correction: the
  /// min term uses q8_1's stored s = fp16(d·Σq) (ggml's design, 2⁻¹¹ relative rounding), so the
  /// reference does too: Σŵŷ + Σ_blocks m·(s − Σŷ).
  func expectedDot(_ type: GGMLType, _ wq: [UInt8], _ aq: [UInt8], count k: Int) throws -> (
    dot: Double, magnitude: Double
  ) {
    let act = dotType(type)
    let yhat = try act.dequantize(aq, count: k)
    var result = referenceDot(try type.dequantize(wq, count: k), yhat)
    if act == .q8_1 {
      func half(_ bytes: [UInt8], _ at: Int) -> Double {
        Double(fp16ToFp32(UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8))
      }
      for b in 0..<(k / 32) {
        let m = half(wq, b * type.typeSize + 2)
        let s = half(aq, b * act.typeSize + 2)
        let sum = yhat[(b * 32)..<(b * 32 + 32)].reduce(0.0) { $0 + Double($1) }
        result.dot += m * (s - sum)
        result.magnitude += abs(m * s)
      }
    }
    return result
  }

  /// Against the double-precision dot of the reference-dequantized operands. The kernel does the same
  /// integer arithmetic per block; only the f32 scale products (d_x·d_y) and the f32 accumulation
  /// over blocks round. Those errors are bounded by about (blocks + 8)·2⁻²⁴ relative to Σ|xᵢyᵢ|
  /// (≤ 8e-6 for the 128 blocks used here), so 1e-5·Σ|xᵢyᵢ| is the bound.
  @Test("vec_dot equals the dot of the dequantized operands", arguments: ISA.supported, quantTypes)
  func matchesDequantizedDot(isa: ISA, type: GGMLType) throws {
    let table = try isa.table
    let dot = try #require(qk_table_vec_dot(table, Int32(type.rawValue)))
    let act = dotType(type)
    for (k, seed) in [(type.blockSize, UInt64(1)), (7 * type.blockSize, 2), (4096, 3)] {
      let w = sampleValues(count: k, seed: seed)
      let a = sampleValues(count: k, seed: seed &+ 100, blockSize: act.blockSize)
      let wq = try type.quantize(w)
      let aq = try act.quantize(a)
      let expected = try expectedDot(type, wq, aq, count: k)
      let got = callVecDot(dot, n: k, wq, aq)
      let bound = 1e-5 * expected.magnitude + 1e-30
      #expect(
        abs(Double(got) - expected.dot) <= bound,
        "\(isa) \(type) k=\(k): \(got) vs \(expected.dot), error \(abs(Double(got) - expected.dot)) > \(bound)"
      )
    }
  }

  /// ggml's test-quantize-fns "dot product" check: weights from the type's quantizer, activations
  /// from this ISA's activation quantizer, |vec_dot − Σxᵢyᵢ| / n below ggml's thresholds.
  @Test("vec_dot within ggml's dot-product error bound", arguments: ISA.supported, quantTypes)
  func ggmlDotProductError(isa: ISA, type: GGMLType) throws {
    let table = try isa.table
    let dot = try #require(qk_table_vec_dot(table, Int32(type.rawValue)))
    let n = 32 * 128
    let x = ggmlTestData(offset: 0, count: n)
    let y = ggmlTestData(offset: 1, count: n)
    let xq = try type.quantize(x)
    let yq = try kernelQuantize(table, dot: dotType(type), y)
    let result = callVecDot(dot, n: n, xq, yq)
    var exact = 0.0
    for i in 0..<n { exact += Double(x[i] * y[i]) }
    let error = abs(result - Float(exact)) / Float(n)
    let bound: Float = [.q2_K, .q3_K].contains(type) ? 0.04 : 0.02
    #expect(error < bound, "\(isa) \(type): dot-product error \(error) ≥ \(bound)")
  }

  /// The same kernel on every ISA gives the same answer up to float rounding (guards against an ISA
  /// path that is self-consistent but differently wrong).
  @Test("all ISAs agree", arguments: quantTypes)
  func isasAgree(type: GGMLType) throws {
    let k = 8 * max(type.blockSize, 256)
    let wq = try type.quantize(sampleValues(count: k, seed: 21))
    let act = dotType(type)
    let aq = try act.quantize(sampleValues(count: k, seed: 22, blockSize: act.blockSize))
    let expected = try expectedDot(type, wq, aq, count: k)
    for isa in ISA.supported {
      let dot = try #require(qk_table_vec_dot(try isa.table, Int32(type.rawValue)))
      let got = callVecDot(dot, n: k, wq, aq)
      #expect(
        abs(Double(got) - expected.dot) <= 1e-5 * expected.magnitude,
        "\(isa) \(type): \(got) vs \(expected.dot)")
    }
  }
}
