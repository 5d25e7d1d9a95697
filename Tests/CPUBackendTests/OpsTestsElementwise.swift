import Foundation
import GGML
import Testing

@testable import CPUBackend

/// Sizes that exercise full vectors, tails, and the tail-only path.
let opsOddSizes = [1, 3, 7, 8, 9, 15, 16, 17, 33, 100, 1027]

/// Inputs over the range activations see, plus the extremes where exp over/underflows.
func activationInputs(_ count: Int, seed: UInt64) -> [Float] {
  var rng = OpsReference.Random(seed: seed)
  var x = rng.floats(count, -12, 12)
  let extremes: [Float] = [0, -0.0, 1e-6, -1e-6, 50, -50, 100, -100, 1e4, -1e4, 88.5, -87.5]
  for (i, e) in extremes.enumerated() where i * 7 < count { x[i * 7] = e }
  return x
}

func expectClose(
  _ actual: [Float], _ expected: [Double], nmse limit: Double, _ what: String,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  let e = OpsReference.nmse(actual, expected)
  #expect(e <= limit, "\(what): NMSE \(e) > \(limit)", sourceLocation: sourceLocation)
  let bad = OpsReference.firstNonFinite(actual, expected)
  #expect(
    bad == nil, "\(what): non-finite at \(bad ?? -1): \(bad.map { actual[$0] } ?? 0)",
    sourceLocation: sourceLocation)
}

@Suite struct OpsTestsElementwise {
  @Test(arguments: opsOddSizes)
  func activations(count: Int) {
    let x = activationInputs(count, seed: UInt64(count))
    var out = [Float](repeating: .nan, count: count)
    CPUOps.silu(x, into: &out, count: count)
    expectClose(out, x.map { OpsReference.silu(Double($0)) }, nmse: 1e-7, "silu n=\(count)")
    CPUOps.gelu(x, into: &out, count: count)
    expectClose(out, x.map { OpsReference.gelu(Double($0)) }, nmse: 1e-6, "gelu n=\(count)")
    CPUOps.scale(x, by: -0.37, into: &out, count: count)
    expectClose(out, x.map { Double($0) * Double(Float(-0.37)) }, nmse: 1e-7, "scale n=\(count)")
  }

  /// Activations checked point by point too: NMSE over a row hides a bad value. Relative bound
  /// 2e-6 plus 1e-10 absolute: far in the negative tail (gelu(-6) ~ 1e-12) e^a in float carries
  /// |a|·ulp of relative error whatever the method (ggml's `0.5x(1 + tanhf)` gives 0 there).
  @Test func activationsRelativeError() {
    let x = stride(from: Float(-20), through: 20, by: 0.0137).map { $0 }
    var out = [Float](repeating: 0, count: x.count)
    CPUOps.silu(x, into: &out, count: x.count)
    for i in x.indices {
      let r = OpsReference.silu(Double(x[i]))
      let bound = 2e-6 * abs(r) + 1e-10
      #expect(abs(Double(out[i]) - r) <= bound, "silu(\(x[i])) = \(out[i]), want \(r)")
    }
    CPUOps.gelu(x, into: &out, count: x.count)
    checkGGMLGelu(x, out)
  }

  /// GELU is ggml's CPU definition (an f16 table, see `CPUOps.gelu`), not the exact function: the
  /// input is rounded to f16 and the output is an f16 value within one f16 ulp of the exact GELU
  /// of that input (plus the f32 cancellation of `1 + tanh` in the negative tail, see
  /// `OpsReference.geluF16Bound`); -10 and below give 0, 10 and above give x itself.
  func checkGGMLGelu(_ x: [Float], _ out: [Float], sourceLocation: SourceLocation = #_sourceLocation) {
    for i in x.indices {
      if x[i] <= -10 {
        #expect(out[i] == 0, "gelu(\(x[i])) = \(out[i]), want 0", sourceLocation: sourceLocation)
      } else if x[i] >= 10 {
        #expect(out[i] == x[i], "gelu(\(x[i])) = \(out[i]), want x", sourceLocation: sourceLocation)
      } else {
        let r = OpsReference.geluF16Input(x[i])
        #expect(
          Float(Float16(out[i])) == out[i], "gelu(\(x[i])) = \(out[i]) is not an f16 value",
          sourceLocation: sourceLocation)
        #expect(
          abs(Double(out[i]) - r) <= OpsReference.geluF16Bound(x[i], r),
          "gelu(\(x[i])) = \(out[i]), want \(r)",
          sourceLocation: sourceLocation)
      }
    }
  }

  /// The f16 rounding of GELU's input and output, around the table's edges and through the
  /// negative tail where the f16 output is subnormal.
  @Test func geluIsGGMLFP16Table() {
    var x: [Float] = [
      -10.5, -10, -9.999, -9.99, -5.5, -3.2, -1e-3, -1e-8, 0, -0.0, 1e-8, 7.5e-3, 0.5, 9.99, 9.999, 10, 12,
    ]
    x += stride(from: Float(-10.2), through: 10.2, by: 0.001).map { $0 }
    var out = [Float](repeating: .nan, count: x.count)
    CPUOps.gelu(x, into: &out, count: x.count)
    checkGGMLGelu(x, out)
    // Inputs that round to the same f16 value give the same output.
    let a: [Float] = [1.0, 1.0 + 0x1p-12, 1.0 - 0x1p-13, -2.0, -2.0 - 0x1p-11]
    var b = [Float](repeating: .nan, count: a.count)
    CPUOps.gelu(a, into: &b, count: a.count)
    #expect(b[0] == b[1] && b[1] == b[2], "\(b)")
    #expect(b[3] == b[4], "\(b)")
    // Values ggml's table holds (f16 bits, computed by ggml 0.25.3 on x86-64).
    #expect(b[0] == Float(Float16(bitPattern: 0x3abb)), "gelu(1) = \(b[0])")
    // -1.9990234 (f16 0xbfff): ggml's 0xa9d3 needs the fused multiply-add in 1 + 0.044715·x·x
    // (unfused f32 arithmetic gives 0xa9d2).
    let gate: [Float] = [-1.8173828, -1.9990234, 12, -11]
    let up: [Float] = [2, 1, 0.5, 3]
    var y = [Float](repeating: .nan, count: 4)
    CPUOps.geglu(gate: gate, up: up, into: &y, count: 4)
    #expect(y[0] == Float(Float16(bitPattern: 0xac06)) * 2, "geglu(-1.8173828) = \(y[0])")
    #expect(y[1] == Float(Float16(bitPattern: 0xa9d3)), "geglu(-1.9990234) = \(y[1])")
    #expect(y[2] == 6 && y[3] == 0, "\(y)")
  }

  /// The C table kernel (`qk_gelu_f16_table`, what `CPUOps.gelu` / `geglu` run) gives the bits of
  /// the Swift lookup `CPUOps.geluLookup` for every f16 value, values between them, the ±10 edges,
  /// ±0, ±inf and huge inputs, at lengths with and without a scalar tail; with `up` as well.
  @Test func geluTableKernelEqualsSwiftLookup() {
    var x: [Float] = (0...0xffff).map { Float(Float16(bitPattern: UInt16($0))) }.filter { !$0.isNaN }
    var rng = OpsReference.Random(seed: 1610)
    x += rng.floats(4099, -12, 12)
    x += [-10, -10.000001, -9.999999, 10, 9.999999, 10.000001, 1e30, -1e30, 0x1p-30, -0x1p-30, 65520, -65520]
    let up = rng.floats(x.count, -3, 3)
    var want = [Float](repeating: 0, count: x.count)
    var wantGLU = want
    CPUOps.geluTable.withUnsafeBufferPointer { table in
      for i in stride(from: 0, to: x.count, by: 8) {
        var v = SIMD8<Float>()
        for l in 0..<8 { v[l] = i + l < x.count ? x[i + l] : 0 }
        let y = CPUOps.geluLookup(v, table.baseAddress!)
        for l in 0..<8 where i + l < x.count {
          want[i + l] = y[l]
          wantGLU[i + l] = y[l] * up[i + l]
        }
      }
    }
    for n in [x.count, x.count - 5] {
      var got = [Float](repeating: .nan, count: n)
      CPUOps.gelu(x, into: &got, count: n)
      let bad = (0..<n).filter { got[$0].bitPattern != want[$0].bitPattern }
      #expect(bad.isEmpty, "gelu n=\(n): \(bad.count) differ, first x=\(bad.first.map { x[$0] } ?? 0)")
      var glu = [Float](repeating: .nan, count: n)
      CPUOps.geglu(gate: x, up: up, into: &glu, count: n)
      let badGLU = (0..<n).filter { glu[$0].bitPattern != wantGLU[$0].bitPattern }
      #expect(
        badGLU.isEmpty, "geglu n=\(n): \(badGLU.count) differ, first x=\(badGLU.first.map { x[$0] } ?? 0)")
    }
  }

  /// The vector f32 → f16 conversions (GELU's table index, attention's f16 accumulators) against
  /// Swift's `Float16` (compiler-rt, round to nearest even): normals, subnormals, midpoints,
  /// overflow, inf and NaN.
  @Test func halfRounding() {
    var rng = OpsReference.Random(seed: 16)
    var x: [Float] = [
      0, -0.0, 1, -1, 65504, 65519.99, 65520, -65520, 1e6, .infinity, -.infinity, .nan, 0x1p-14,
      0x1p-14 - 0x1p-26, 0x1p-24, 0x1p-25, 0x1.8p-25, 0x1p-26, 3 * 0x1p-25, 1 + 0x1p-11,
      1 + 0x1p-11 + 0x1p-20,
      1 + 3 * 0x1p-11, 2049, 2051,
    ]
    x += rng.floats(4000, -70000, 70000) + rng.floats(4000, -1, 1) + rng.floats(4000, -1e-4, 1e-4)
    x += (0..<4000).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
    while x.count % 8 != 0 { x.append(0.5) }
    for i in stride(from: 0, to: x.count, by: 8) {
      let v = SIMD8<Float>(x[i..<(i + 8)])
      let bits = SIMDMath.floatToHalfBits(v)
      let rounded = SIMDMath.roundToHalf(v)
      for l in 0..<8 {
        let want = Float16(v[l])
        if want.isNaN {
          #expect(rounded[l].isNaN && fp16ToFp32(UInt16(bits[l])).isNaN, "\(v[l])")
        } else {
          #expect(UInt16(bits[l]) == want.bitPattern, "f16 bits of \(v[l])")
          #expect(rounded[l].bitPattern == Float(want).bitPattern, "roundToHalf(\(v[l])) = \(rounded[l])")
        }
      }
    }
  }

  @Test(arguments: opsOddSizes)
  func gatedUnits(count: Int) {
    let gate = activationInputs(count, seed: 100 + UInt64(count))
    var rng = OpsReference.Random(seed: 7)
    let up = rng.floats(count, -3, 3)
    var out = [Float](repeating: .nan, count: count)
    CPUOps.swiglu(gate: gate, up: up, into: &out, count: count)
    expectClose(
      out, gate.indices.map { OpsReference.silu(Double(gate[$0])) * Double(up[$0]) }, nmse: 1e-7,
      "swiglu n=\(count)")
    CPUOps.geglu(gate: gate, up: up, into: &out, count: count)
    // ggml's f16 GELU (see geluIsGGMLFP16Table): relative error up to 2^-11 per value, NMSE ~1e-7.
    expectClose(
      out, gate.indices.map { OpsReference.gelu(Double(gate[$0])) * Double(up[$0]) }, nmse: 1e-6,
      "geglu n=\(count)")
    for i in 0..<count where abs(gate[i]) < 10 {
      let r = OpsReference.geluF16Input(gate[i])
      let bound = OpsReference.geluF16Bound(gate[i], r) * Double(abs(up[i])) * (1 + 0x1p-23)
      #expect(abs(Double(out[i]) - r * Double(up[i])) <= bound, "geglu(\(gate[i]), \(up[i])) = \(out[i])")
    }
  }

  @Test(arguments: [1, 5, 8, 19, 640])
  func addAndMulWithBroadcast(n: Int) {
    let nRows = 4
    let stride = n + 3  // rows not packed
    var rng = OpsReference.Random(seed: UInt64(n))
    let a = rng.floats(nRows * stride, -5, 5)
    let full = rng.floats(nRows * stride, -5, 5)
    let row = rng.floats(n, -5, 5)
    for broadcast in [false, true] {
      for op in ["add", "mul"] {
        let sentinel: Float = 12345
        var out = [Float](repeating: sentinel, count: nRows * stride)
        let b = broadcast ? row : full
        let bStride = broadcast ? 0 : stride
        // Rows 1..<3 only: rows 0 and 3 must stay untouched.
        if op == "add" {
          CPUOps.add(
            a, aRowStride: stride, b, bRowStride: bStride, into: &out, outRowStride: stride, n: n, rows: 1..<3
          )
        } else {
          CPUOps.mul(
            a, aRowStride: stride, b, bRowStride: bStride, into: &out, outRowStride: stride, n: n, rows: 1..<3
          )
        }
        var actual: [Float] = []
        var expected: [Double] = []
        for r in 1..<3 {
          for i in 0..<n {
            let x = Double(a[r * stride + i])
            let y = Double(b[r * bStride + i])
            actual.append(out[r * stride + i])
            expected.append(op == "add" ? x + y : x * y)
          }
        }
        expectClose(actual, expected, nmse: 1e-7, "\(op) broadcast=\(broadcast) n=\(n)")
        #expect(out[0..<stride].allSatisfy { $0 == sentinel }, "\(op): row 0 written")
        #expect(out[(3 * stride)...].allSatisfy { $0 == sentinel }, "\(op): row 3 written")
        #expect(out[(stride + n)..<(2 * stride)].allSatisfy { $0 == sentinel }, "\(op): row padding written")
      }
    }
  }

  @Test func flatAddMulInPlace() {
    var rng = OpsReference.Random(seed: 3)
    var a = rng.floats(37)
    let b = rng.floats(37)
    let expectedSum = a.indices.map { Double(a[$0]) + Double(b[$0]) }
    a.withUnsafeMutableBufferPointer { p in CPUOps.add(p.baseAddress!, b, into: p.baseAddress!, count: 37) }
    expectClose(a, expectedSum, nmse: 1e-7, "add in place")
    let expectedProduct = a.indices.map { Double(a[$0]) * Double(b[$0]) }
    a.withUnsafeMutableBufferPointer { p in CPUOps.mul(p.baseAddress!, b, into: p.baseAddress!, count: 37) }
    expectClose(a, expectedProduct, nmse: 1e-7, "mul in place")
  }
}

@Suite struct OpsTestsSIMDMath {
  @Test func expAccuracyAndLimits() {
    var worst = 0.0
    var x: Float = -87.2
    while x < 88.7 {
      var v = SIMD8<Float>()
      for k in 0..<8 { v[k] = x + Float(k) * 0.0011 }
      let e = SIMDMath.exp(v)
      for k in 0..<8 {
        let r = Foundation.exp(Double(v[k]))
        worst = max(worst, abs(Double(e[k]) - r) / r)
      }
      x += 0.0371
    }
    #expect(worst < 4e-7, "exp max relative error \(worst)")
    let special = SIMDMath.exp(SIMD8(-.infinity, -200, -87.31, 0, 88.72, 88.8, 1000, .infinity))
    #expect(special[0] == 0 && special[1] == 0 && special[2] == 0)
    #expect(special[3] == 1)
    #expect(special[4].isFinite && abs(Double(special[4]) / Foundation.exp(Double(Float(88.72))) - 1) < 1e-6)
    #expect(special[5] == .infinity && special[6] == .infinity && special[7] == .infinity)
  }

  @Test func tanhAccuracy() {
    var worstAbs = 0.0
    var worstRel = 0.0
    var x: Float = -20
    while x < 20 {
      var v = SIMD8<Float>()
      for k in 0..<8 { v[k] = x + Float(k) * 0.00037 }
      let t = SIMDMath.tanh(v)
      for k in 0..<8 {
        let r = Foundation.tanh(Double(v[k]))
        worstAbs = max(worstAbs, abs(Double(t[k]) - r))
        if abs(r) > 1e-3 { worstRel = max(worstRel, abs(Double(t[k]) - r) / abs(r)) }
      }
      x += 0.0213
    }
    #expect(worstAbs < 3e-7, "tanh max abs error \(worstAbs)")
    #expect(worstRel < 1e-6, "tanh max rel error \(worstRel)")
    let tiny = SIMDMath.tanh(SIMD8(1e-20, -1e-10, 0, -0.0, 1e-3, .infinity, -.infinity, 30))
    #expect(tiny[0] == 1e-20 && tiny[1] == -1e-10 && tiny[2] == 0)
    #expect(tiny[5] == 1 && tiny[6] == -1 && tiny[7] == 1)
  }

  /// Every one of the 65536 halves, in both orders, bit for bit against the GGML conversion.
  @Test func halfConversionExhaustive() {
    let all = (0..<65536).map { UInt16($0) }
    var natural = [Float](repeating: 0, count: 65536)
    var split = [Float](repeating: 0, count: 65536)
    all.withUnsafeBufferPointer { src in
      SIMDMath.halfToFloat(src.baseAddress!, &natural, 65536)
      SIMDMath.halfToFloatSplitRow(src.baseAddress!, &split, 65536)
    }
    var mismatches = 0
    for i in 0..<65536 {
      let want = fp16ToFp32(UInt16(i))
      let chunk = i / 8 * 8
      let lane = i % 8
      let splitIndex = chunk + (lane % 2 == 0 ? lane / 2 : 4 + lane / 2)
      for got in [natural[i], split[splitIndex]] {
        let same = got.bitPattern == want.bitPattern || (got.isNaN && want.isNaN)
        if !same { mismatches += 1 }
      }
    }
    #expect(mismatches == 0)
  }

  @Test(arguments: [1, 7, 8, 13, 24, 29])
  func splitOrderRoundTrip(n: Int) {
    var rng = OpsReference.Random(seed: UInt64(n))
    let x = rng.floats(n)
    var s = [Float](repeating: 0, count: n)
    var back = [Float](repeating: 0, count: n)
    SIMDMath.splitOrder(x, &s, n)
    SIMDMath.unsplitOrder(s, &back, n, scale: 1)
    #expect(back == x)
    let halves = x.map { fp32ToFp16($0) }
    var converted = [Float](repeating: 0, count: n)
    SIMDMath.halfToFloatSplitRow(halves, &converted, n)
    var viaSplit = [Float](repeating: 0, count: n)
    SIMDMath.splitOrder(halves.map { fp16ToFp32($0) }, &viaSplit, n)
    #expect(converted == viaSplit)
  }
}
