import Foundation
import GGML
import Testing

/// Tier 2 (TESTING.md): ggml's `test-quantize-fns`, with its data, metric and thresholds, for every
/// type that has a reference quantizer.
///
/// The dot-product check pairs the weights (quantized with the type) with the other vector quantized
/// with the type's `vec_dot_type` (q8_0 / q8_1 / q8_K), dequantizes both with the reference and dots
/// them in f32. It measures the quantization of both operands; the integer vec_dot kernels come with
/// the CPU backend and are tested there against these codecs.
@Suite struct StatisticalTests {
  /// ggml's test size: 32 × 128 values.
  static let testSize = 32 * 128

  /// The types that must have a reference quantizer; with a codec missing the suite fails instead
  /// of silently dropping the type.
  static let expectedQuantizable: Set<GGMLType> = [
    .f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1,
    .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K, .iq4_nl, .iq4_xs,
  ]

  /// Every type with a quantizer, plus the expected ones (so a missing codec is a failing case).
  static let quantizableTypes: [GGMLType] = GGMLType.allCases.filter {
    $0.quantizer != nil || expectedQuantizable.contains($0)
  }

  @Test func everyExpectedTypeHasAQuantizer() {
    for type in Self.expectedQuantizable.sorted(by: { $0.rawValue < $1.rawValue }) {
      #expect(type.quantizer != nil, "\(type) has no reference quantizer")
      #expect(type.dequantizer != nil, "\(type) has no reference dequantizer")
    }
  }

  @Test("round-trip error within ggml's bound", arguments: quantizableTypes)
  func roundTrip(type: GGMLType) throws {
    let x = generateData(offset: 0, count: Self.testSize)
    let y = try type.dequantize(type.quantize(x), count: x.count)
    let error = arrayRMSE(x, y)
    let bound = maxQuantizationError(type)
    #expect(error < bound, "\(type) round-trip error \(error) ≥ \(bound)")
  }

  @Test("dot-product error within ggml's bound", arguments: quantizableTypes)
  func dotProduct(type: GGMLType) throws {
    let x = generateData(offset: 0, count: Self.testSize)
    let w = generateData(offset: 1, count: Self.testSize)
    let dotType = vecDotType(type)
    let xq = try type.dequantize(type.quantize(x), count: x.count)
    let wq = try dotType.dequantize(dotType.quantize(w), count: w.count)
    var result: Float = 0
    for i in 0..<Self.testSize { result += xq[i] * wq[i] }
    let error = abs(result - referenceDot(x, w)) / Float(Self.testSize)
    let bound = maxDotProductError(type)
    #expect(error < bound, "\(type)·\(dotType) dot-product error \(error) ≥ \(bound)")
  }

  /// The data generator and the metric, checked on values computed by hand, so a broken generator
  /// cannot make the bounds above vacuous.
  @Test func generatorAndMetric() {
    let x = generateData(offset: 0, count: 2)
    #expect(x[0] == Float(2.1))  // 0.1 + 2·cos 0
    #expect(abs(x[1] - Float(0.1 + 2 * cos(1.0))) < 1e-6)
    // sqrt(3² + 4²) / 2 = 2.5: ggml's "rmse" divides the root by n, not inside it.
    #expect(arrayRMSE([0, 0], [3, 4]) == 2.5)
  }
}

// MARK: - ggml's test-quantize-fns, ported

/// `generate_data`: `0.1 + amplitude*cosf(i + offset)` (float product, double sum, stored as float).
func generateData(offset: Float, count: Int, amplitude: Float = 2) -> [Float] {
  (0..<count).map { i in Float(0.1 + Double(amplitude * cosf(Float(i) + offset))) }
}

/// `array_rmse`: sqrt(Σ(a-b)²) / n — ggml's name, though the division is outside the root.
func arrayRMSE(_ a: [Float], _ b: [Float]) -> Float {
  var sum: Double = 0
  for i in a.indices {
    let diff = Double(a[i] - b[i])
    sum += diff * diff
  }
  return Float(sum).squareRoot() / Float(a.count)
}

/// `dot_product`: float products accumulated in double.
func referenceDot(_ a: [Float], _ b: [Float]) -> Float {
  var sum: Double = 0
  for i in a.indices { sum += Double(a[i] * b[i]) }
  return Float(sum)
}

/// ggml-cpu's `vec_dot_type` per type (type_traits_cpu). q8_K has none upstream (it is only ever the
/// activation side); pairing it with itself measures its own quantization twice.
func vecDotType(_ type: GGMLType) -> GGMLType {
  switch type {
  case .f32, .f16, .bf16, .q8_1, .q8_K: return type
  case .q4_1, .q5_1: return .q8_1
  case .q4_0, .q5_0, .q8_0, .iq4_nl, .mxfp4, .nvfp4, .q1_0, .q2_0: return .q8_0
  default: return .q8_K  // every other k-, i- and ternary quant
  }
}

/// MAX_QUANTIZATION_TOTAL_ERROR and its per-type exceptions.
func maxQuantizationError(_ type: GGMLType) -> Float {
  switch type {
  case .q1_0: return 0.025
  case .tq1_0, .tq2_0, .q2_0: return 0.01
  case .q2_K, .iq2_s: return 0.0075
  case .q3_K, .iq3_s: return 0.004
  case .iq3_xxs: return 0.005
  case .nvfp4: return 0.003
  default: return 0.002
  }
}

/// MAX_DOT_PRODUCT_ERROR and its per-type exceptions (note: ggml's low-bit list has q2_K but not
/// q3_K).
func maxDotProductError(_ type: GGMLType) -> Float {
  switch type {
  case .q2_K, .iq2_xs, .iq2_xxs, .iq3_xxs, .iq3_s, .iq2_s: return 0.04
  case .q1_0: return 0.40
  case .tq1_0, .tq2_0, .q2_0: return 0.15
  case .nvfp4: return 0.03
  default: return 0.02
  }
}
