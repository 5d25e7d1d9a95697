import GGML

/// How a quantized matmul computes its dots.
public enum QMatMulPath: String, Sendable, Hashable, CaseIterable {
  /// The fastest path the device has for the type.
  case auto
  /// Activations quantized to the type's dot type (q8_0 / q8_1 / q8_K), integer dot per block.
  /// Types without such a kernel fail with `.unsupported`.
  case integerDot
  /// Weights dequantized to f32 a tile at a time, f32 dots (ggml's `dequantize_mul_mat_vec`).
  case dequantize
}

/// Options of a `QMatMul`, passed as a value (no global switches). Only what every backend
/// understands belongs here; a backend's own settings (the CPU's instruction set) are part of its
/// configuration.
public struct QMatMulOptions: Sendable, Hashable {
  public var path: QMatMulPath

  public init(path: QMatMulPath = .auto) {
    self.path = path
  }
}

/// `y = x · Wᵀ` with quantized (or f32/f16/bf16) weights `W` `[n, k]` kept on their device:
/// x `[..., k]` f32 → y `[..., n]` f32.
public struct QMatMul: Sendable {
  public let weights: QTensor
  public let options: QMatMulOptions

  public var inputSize: Int { weights.shape[1] }
  public var outputSize: Int { weights.shape[0] }

  public init(weights: QTensor, options: QMatMulOptions = .init()) throws {
    guard weights.shape.count == 2 else {
      throw QuantaError.shapeMismatch(op: "QMatMul", expected: "[n, k]", actual: weights.shape)
    }
    guard weights.type.dequantizer != nil || DType(weights.type) != nil else {
      throw QuantaError.unsupported(op: "matmul", type: weights.type.name, device: weights.device)
    }
    self.weights = weights
    self.options = options
  }

  public func forward(_ x: Tensor) throws -> Tensor {
    let b = weights.backend
    try Validate.f32Input("matmul", b, x)
    guard x.rank >= 1, x.shape[x.rank - 1] == inputSize else {
      throw QuantaError.shapeMismatch(op: "matmul", expected: "[..., \(inputSize)]", actual: x.shape)
    }
    let m = x.count / max(inputSize, 1)
    let out = try Tensor.zeros(shape: Array(x.shape.dropLast()) + [outputSize], on: b)
    if m == 0 || outputSize == 0 { return out }
    try b.matmul(
      x.reshaped([m, inputSize]), weights: weights, options: options, into: out.reshaped([m, outputSize]))
    return out
  }
}
