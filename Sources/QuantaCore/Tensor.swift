import GGML

/// Element type of a dense tensor.
public enum DType: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
  case f32, f16, bf16
  public var byteSize: Int { self == .f32 ? 4 : 2 }
  public var ggmlType: GGMLType {
    switch self {
    case .f32: return .f32
    case .f16: return .f16
    case .bf16: return .bf16
    }
  }
  public init?(_ type: GGMLType) {
    switch type {
    case .f32: self = .f32
    case .f16: self = .f16
    case .bf16: self = .bf16
    default: return nil
    }
  }
  public var description: String { rawValue }
}

/// Checked product of a shape (nil on a negative dimension or overflow).
func elementCount(_ shape: [Int]) -> Int? {
  var n = 1
  for d in shape {
    guard d >= 0 else { return nil }
    let (p, o) = n.multipliedReportingOverflow(by: d)
    if o { return nil }
    n = p
  }
  return n
}

/// Row-major (numpy) strides in elements.
func contiguousStrides(_ shape: [Int]) -> [Int] {
  var strides = [Int](repeating: 1, count: shape.count)
  var s = 1
  for i in stride(from: shape.count - 1, through: 0, by: -1) {
    strides[i] = s
    s *= shape[i]
  }
  return strides
}

/// A dense f32/f16/bf16 tensor on a device: a view (byte offset, shape, strides) into a buffer.
///
/// Shapes are numpy order — outermost first, the last dimension contiguous: `[m, k]` is `m` rows of
/// `k` values. Strides are in elements. Copying a `Tensor` copies the view, not the memory.
public struct Tensor: Sendable {
  public let buffer: any DeviceBuffer
  public let byteOffset: Int
  public let dtype: DType
  public let shape: [Int]
  public let strides: [Int]

  public var backend: any ComputeBackend { buffer.backend }
  public var device: Device { buffer.backend.device }
  /// Number of elements (shapes are checked for overflow at creation).
  public var count: Int { shape.reduce(1, *) }
  public var rank: Int { shape.count }
  public var isContiguous: Bool { strides == contiguousStrides(shape) }
  /// Bytes spanned by a contiguous tensor.
  public var byteCount: Int { count * dtype.byteSize }

  /// A view into `buffer`. Throws when the shape overflows or the view reaches past the buffer.
  public init(
    buffer: any DeviceBuffer, byteOffset: Int = 0, dtype: DType, shape: [Int], strides: [Int]? = nil
  )
    throws(QuantaError)
  {
    guard let n = elementCount(shape) else { throw .sizeOverflow(op: "Tensor", shape: shape) }
    let strides = strides ?? contiguousStrides(shape)
    guard strides.count == shape.count, strides.allSatisfy({ $0 >= 0 }) else {
      throw .invalidArgument(op: "Tensor", reason: "strides \(strides) do not fit shape \(shape)")
    }
    // Furthest element reached, in elements.
    var last = 0
    for (d, s) in zip(shape, strides) where d > 0 {
      let (p, o) = (d - 1).multipliedReportingOverflow(by: s)
      if o { throw .sizeOverflow(op: "Tensor", shape: shape) }
      last += p
    }
    let end = n == 0 ? byteOffset : byteOffset + (last + 1) * dtype.byteSize
    guard byteOffset >= 0, end <= buffer.byteCount else {
      throw .invalidBuffer(
        op: "Tensor",
        reason:
          "view of \(shape) \(dtype) at byte \(byteOffset) ends at \(end), buffer has \(buffer.byteCount)")
    }
    self.buffer = buffer
    self.byteOffset = byteOffset
    self.dtype = dtype
    self.shape = shape
    self.strides = strides
  }

  /// Zero-filled tensor on `backend`'s device.
  public static func zeros(shape: [Int], dtype: DType = .f32, on backend: any ComputeBackend) throws -> Tensor
  {
    guard let n = elementCount(shape),
      case (let bytes, false) = n.multipliedReportingOverflow(by: dtype.byteSize)
    else { throw QuantaError.sizeOverflow(op: "Tensor.zeros", shape: shape) }
    return try Tensor(buffer: backend.allocate(byteCount: bytes), dtype: dtype, shape: shape)
  }

  /// Copies `values` to the device, converted to `dtype` (f16 round-to-nearest-even, as ggml).
  public init(_ values: [Float], shape: [Int], dtype: DType = .f32, on backend: any ComputeBackend) throws {
    guard let n = elementCount(shape) else { throw QuantaError.sizeOverflow(op: "Tensor", shape: shape) }
    guard n == values.count else {
      throw QuantaError.elementCount(op: "Tensor", shape: shape, expected: n, actual: values.count)
    }
    let t = try Tensor.zeros(shape: shape, dtype: dtype, on: backend)
    switch dtype {
    case .f32:
      try values.withUnsafeBytes { try backend.copy($0, to: t.buffer, at: 0) }
    case .f16:
      try values.map(fp32ToFp16).withUnsafeBytes { try backend.copy($0, to: t.buffer, at: 0) }
    case .bf16:
      try values.map(fp32ToBf16).withUnsafeBytes { try backend.copy($0, to: t.buffer, at: 0) }
    }
    self = t
  }

  /// The values as f32, in row-major order (waits for pending device work).
  public func toArray() throws -> [Float] {
    isContiguous ? try contiguousToArray() : try gatherStrided()
  }

  private func contiguousToArray() throws -> [Float] {
    let n = count
    switch dtype {
    case .f32:
      var out = [Float](repeating: 0, count: n)
      try out.withUnsafeMutableBytes { try backend.copy(buffer, at: byteOffset, to: $0) }
      return out
    case .f16, .bf16:
      var bits = [UInt16](repeating: 0, count: n)
      try bits.withUnsafeMutableBytes { try backend.copy(buffer, at: byteOffset, to: $0) }
      return dtype == .f16 ? bits.map(fp16ToFp32) : bits.map(bf16ToFp32)
    }
  }

  /// A strided view read through a host copy of the span it covers.
  private func gatherStrided() throws -> [Float] {
    var span = 0
    for (d, s) in zip(shape, strides) where d > 0 { span += (d - 1) * s }
    let whole = try Tensor(buffer: buffer, byteOffset: byteOffset, dtype: dtype, shape: [span + 1])
      .contiguousToArray()
    var out = [Float]()
    out.reserveCapacity(count)
    var index = [Int](repeating: 0, count: rank)
    for _ in 0..<count {
      out.append(whole[zip(index, strides).reduce(0) { $0 + $1.0 * $1.1 }])
      var d = rank - 1
      while d >= 0 {
        index[d] += 1
        if index[d] < shape[d] { break }
        index[d] = 0
        d -= 1
      }
    }
    return out
  }

  /// The same memory with another shape of the same element count (contiguous tensors only).
  public func reshaped(_ newShape: [Int]) throws(QuantaError) -> Tensor {
    guard isContiguous else { throw .notContiguous(op: "reshaped", shape: shape, strides: strides) }
    guard let n = elementCount(newShape), n == count else {
      throw .elementCount(
        op: "reshaped", shape: newShape, expected: elementCount(newShape) ?? -1, actual: count)
    }
    return try Tensor(buffer: buffer, byteOffset: byteOffset, dtype: dtype, shape: newShape)
  }

  /// Rows `range` of the outermost dimension, as a view (contiguous when `self` is).
  public func rows(_ range: Range<Int>) throws(QuantaError) -> Tensor {
    guard rank >= 1, range.lowerBound >= 0, range.upperBound <= shape[0] else {
      throw .indexOutOfRange(op: "rows", index: range.upperBound, bound: shape.first ?? 0)
    }
    var s = shape
    s[0] = range.count
    return try Tensor(
      buffer: buffer, byteOffset: byteOffset + range.lowerBound * strides[0] * dtype.byteSize, dtype: dtype,
      shape: s, strides: strides)
  }
}
