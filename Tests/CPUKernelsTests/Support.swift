import CPUKernels
import Foundation
import GGML
import Testing

/// One instruction-set path of the kernels, as a test argument.
struct ISA: Sendable, CustomStringConvertible, Hashable {
  let raw: UInt32
  var value: qk_isa { qk_isa(rawValue: raw) }
  var description: String {
    ["scalar", "avx2", "avx512", "avx512_vnni", "neon"][Int(raw)]
  }
  var isSupported: Bool { qk_isa_supported(value) != 0 }
  var unsupportedReason: String { String(cString: qk_isa_unsupported_reason(value)) }
  /// The kernel table; only called for supported ISAs.
  var table: UnsafePointer<qk_kernel_table> {
    get throws { try #require(qk_kernels(value), "no table for supported ISA \(self)") }
  }

  static let all: [ISA] = (0..<UInt32(QK_ISA_COUNT.rawValue)).map { ISA(raw: $0) }
  /// The ISAs this machine runs: every test is parameterized over these.
  static let supported: [ISA] = all.filter(\.isSupported)
  static let unsupported: [ISA] = all.filter { !$0.isSupported }
}

/// Weight types with integer kernels, and dense weight types (f32 activations).
let quantTypes: [GGMLType] = [
  .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_nl, .iq4_xs, .mxfp4,
]
let denseTypes: [GGMLType] = [.f32, .f16, .bf16]

/// ggml-cpu's vec_dot_type for the quantized weight types.
func dotType(_ type: GGMLType) -> GGMLType {
  switch type {
  case .q4_1, .q5_1: return .q8_1
  case .q4_0, .q5_0, .q8_0, .iq4_nl, .mxfp4: return .q8_0
  case .f32, .f16, .bf16: return .f32
  default: return .q8_K
  }
}

/// Deterministic pseudo-random numbers (SplitMix64), so failures reproduce.
struct SplitMix64 {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
  /// Uniform in [-1, 1).
  mutating func unit() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }
}

/// Values whose magnitude changes from block to block (as real activations do), some blocks
/// one-signed, so scales, mins and offsets are all exercised.
func sampleValues(count: Int, seed: UInt64, blockSize: Int = 32) -> [Float] {
  var rng = SplitMix64(seed: seed)
  var out = [Float](repeating: 0, count: count)
  var scale: Float = 1
  var shift: Float = 0
  for i in 0..<count {
    if i % blockSize == 0 {
      scale = 0.01 + 3 * abs(rng.unit())
      shift = (i / blockSize) % 3 == 2 ? scale * 0.7 : 0
    }
    out[i] = rng.unit() * scale + shift
  }
  return out
}

/// ggml's test-quantize-fns data: 0.1 + 2·cos(i + offset).
func ggmlTestData(offset: Float, count: Int) -> [Float] {
  (0..<count).map { i in Float(0.1 + Double(2 * cosf(Float(i) + offset))) }
}

/// Quantizes `values` with the ISA's activation quantizer for `dot` (q8_0, q8_1 or q8_K).
func kernelQuantize(_ table: UnsafePointer<qk_kernel_table>, dot: GGMLType, _ values: [Float]) throws
  -> [UInt8]
{
  let quantize = try #require(qk_table_quantizer(table, Int32(dot.rawValue)), "no quantizer for \(dot)")
  let bytes = try #require(dot.byteCount(forElements: values.count))
  var out = [UInt8](repeating: 0xA5, count: bytes)
  values.withUnsafeBufferPointer { src in
    out.withUnsafeMutableBytes { dst in quantize(src.baseAddress!, dst.baseAddress!, Int64(values.count)) }
  }
  return out
}

/// Raw bytes of a weight row of a dense type (the reference codecs' layout).
func denseBytes(_ type: GGMLType, _ values: [Float]) throws -> [UInt8] {
  try type.quantize(values)
}

/// The dot product a kernel computes, in double, over the reference-dequantized operands; also the
/// sum of |products|, the scale of the rounding error of any summation order.
func referenceDot(_ a: [Float], _ b: [Float]) -> (dot: Double, magnitude: Double) {
  var dot = 0.0
  var magnitude = 0.0
  for i in a.indices {
    let p = Double(a[i]) * Double(b[i])
    dot += p
    magnitude += abs(p)
  }
  return (dot, magnitude)
}

/// Calls vec_dot on byte arrays.
func callVecDot(_ fn: qk_vec_dot_fn, n: Int, _ x: [UInt8], _ y: [UInt8]) -> Float {
  x.withUnsafeBytes { xb in y.withUnsafeBytes { yb in fn(Int32(n), xb.baseAddress, yb.baseAddress) } }
}

func floatBytes(_ values: [Float]) -> [UInt8] {
  values.withUnsafeBytes { Array($0) }
}

/// "seed s: got vs want" for every seed whose result differs from the expected one in any bit.
func bitMismatches(seeds: Range<Int>, _ result: (Int) throws -> (got: Float, want: Float)) rethrows
  -> [String]
{
  try seeds.compactMap { seed in
    let (got, want) = try result(seed)
    return got.bitPattern == want.bitPattern ? nil : "seed \(seed): \(got) vs \(want)"
  }
}
