import GGML
import GGUF

/// GGML-typed storage on a device: blocks of a quantized type (or plain f32/f16/bf16 values) laid out
/// row by row, each row `shape.last` values long (a whole number of blocks).
///
/// Shapes are numpy order: a weight matrix of `n` output rows of `k` values is `[n, k]`. GGUF (and
/// ggml) list dimensions the other way round — `ne0` first, `ne0` being the row length — so `load`
/// reverses them: GGUF `[k, n]` becomes `[n, k]` here.
public struct QTensor: Sendable {
  public let buffer: any DeviceBuffer
  public let byteOffset: Int
  public let type: GGMLType
  public let shape: [Int]

  public var backend: any ComputeBackend { buffer.backend }
  public var device: Device { buffer.backend.device }
  public var blockSize: Int { type.blockSize }
  public var count: Int { shape.reduce(1, *) }
  /// Values per row (the last dimension; 1 for a scalar).
  public var rowLength: Int { shape.last ?? 1 }
  public var rowCount: Int { count / max(rowLength, 1) }
  /// Bytes of one row.
  public var rowByteCount: Int { rowLength / type.blockSize * type.typeSize }
  public var sizeInBytes: Int { rowCount * rowByteCount }

  /// A view of `buffer` holding `shape` values of `type` at `byteOffset`. Checks the row length
  /// against the block size and the size against the buffer.
  public init(buffer: any DeviceBuffer, byteOffset: Int = 0, type: GGMLType, shape: [Int]) throws(QuantaError)
  {
    let bytes = try QTensor.byteCount(type: type, shape: shape, op: "QTensor")
    guard byteOffset >= 0, byteOffset <= buffer.byteCount, bytes <= buffer.byteCount - byteOffset else {
      throw .invalidBuffer(
        op: "QTensor",
        reason:
          "\(shape) \(type) needs \(bytes) bytes at offset \(byteOffset), buffer has \(buffer.byteCount)")
    }
    self.buffer = buffer
    self.byteOffset = byteOffset
    self.type = type
    self.shape = shape
  }

  /// Bytes of a `shape` tensor of `type`, every size checked.
  static func byteCount(type: GGMLType, shape: [Int], op: String) throws(QuantaError) -> Int {
    guard let n = elementCount(shape) else { throw .sizeOverflow(op: op, shape: shape) }
    let row = shape.last ?? 1
    guard row % type.blockSize == 0 else { throw .notBlockMultiple(op: op, type: type, count: row) }
    guard let bytes = type.byteCount(forElements: n) else { throw .sizeOverflow(op: op, shape: shape) }
    return bytes
  }

  /// Zero bytes of `type` (all-zero blocks dequantize to zeros for every GGML type).
  public static func zeros(shape: [Int], type: GGMLType, on backend: any ComputeBackend) throws -> QTensor {
    let bytes = try byteCount(type: type, shape: shape, op: "QTensor.zeros")
    return try QTensor(buffer: backend.allocate(byteCount: bytes), type: type, shape: shape)
  }

  /// One row of `count` values.
  public static func zeros(count: Int, type: GGMLType, on backend: any ComputeBackend) throws -> QTensor {
    try zeros(shape: [count], type: type, on: backend)
  }

  /// Copies already-encoded blocks to the device.
  public init(bytes: UnsafeRawBufferPointer, type: GGMLType, shape: [Int], on backend: any ComputeBackend)
    throws
  {
    let expected = try QTensor.byteCount(type: type, shape: shape, op: "QTensor(bytes:)")
    guard bytes.count == expected else {
      throw QuantaError.invalidBuffer(
        op: "QTensor(bytes:)", reason: "\(shape) \(type) needs \(expected) bytes, got \(bytes.count)")
    }
    let t = try QTensor.zeros(shape: shape, type: type, on: backend)
    if expected > 0 { try backend.copy(bytes, to: t.buffer, at: 0) }
    self = t
  }

  public init(bytes: [UInt8], type: GGMLType, shape: [Int], on backend: any ComputeBackend) throws {
    self = try bytes.withUnsafeBytes { try QTensor(bytes: $0, type: type, shape: shape, on: backend) }
  }

  /// A GGUF tensor on `backend`'s device. On the CPU this is a view into the file's memory map (no
  /// copy; the buffer keeps the file alive); a GPU uploads the bytes straight from the map.
  /// GGUF's ne0-first shape is reversed into numpy order.
  public static func load(_ tensor: GGUFTensorInfo, from file: GGUFFile, on backend: any ComputeBackend)
    throws
    -> QTensor
  {
    let shape = Array(tensor.shape.reversed())
    let expected = try byteCount(type: tensor.type, shape: shape, op: "QTensor.load(\(tensor.name))")
    let bytes = file.data(for: tensor)
    guard bytes.count == expected, tensor.byteCount == expected else {
      throw QuantaError.invalidBuffer(
        op: "QTensor.load(\(tensor.name))",
        reason:
          "\(shape) \(tensor.type) needs \(expected) bytes, file holds \(bytes.count) at offset \(tensor.offset)"
      )
    }
    if expected == 0 { return try zeros(shape: shape, type: tensor.type, on: backend) }
    let buffer = try backend.makeBuffer(wrapping: bytes, owner: file)
    return try QTensor(buffer: buffer, type: tensor.type, shape: shape)
  }

  /// The encoded bytes, copied to the host.
  public func bytes() throws -> [UInt8] {
    var out = [UInt8](repeating: 0, count: sizeInBytes)
    if !out.isEmpty { try out.withUnsafeMutableBytes { try backend.copy(buffer, at: byteOffset, to: $0) } }
    return out
  }

  /// Calls `body` with the encoded bytes: the device memory itself where the host can address it
  /// (no copy on the CPU), else a host copy.
  public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
    if let base = buffer.hostAddress {
      try backend.synchronize()
      return try withExtendedLifetime(buffer) {
        try body(UnsafeRawBufferPointer(start: base + byteOffset, count: sizeInBytes))
      }
    }
    return try bytes().withUnsafeBytes { try body($0) }
  }

  /// Quantizes `x` (f32, same element count) into this tensor's storage.
  public func quantize(from x: Tensor) throws {
    try Validate.sameBackend("quantize", backend, x)
    try Validate.writable("quantize", buffer)
    try Validate.dtype("quantize", x, .f32)
    try Validate.contiguous("quantize", x)
    guard x.count == count else {
      throw QuantaError.elementCount(op: "quantize", shape: shape, expected: count, actual: x.count)
    }
    guard type.quantizer != nil || DType(type) != nil else {
      throw QuantaError.unsupported(op: "quantize", type: type.name, device: device)
    }
    try backend.quantize(x, into: self)
  }

  /// `x` (f32, last dimension a multiple of the block size) quantized to a new tensor of `type`.
  public static func quantize(_ x: Tensor, type: GGMLType) throws -> QTensor {
    let q = try zeros(shape: x.shape, type: type, on: x.backend)
    try q.quantize(from: x)
    return q
  }

  /// Dequantized to f32, same shape.
  public func dequantize() throws -> Tensor { try dequantize(to: .f32) }

  /// Dequantized to f16 (the f32 values rounded to nearest even), same shape.
  public func dequantizeF16() throws -> Tensor { try dequantize(to: .f16) }

  func dequantize(to dtype: DType) throws -> Tensor {
    guard type.dequantizer != nil || DType(type) != nil else {
      throw QuantaError.unsupported(op: "dequantize", type: type.name, device: device)
    }
    let out = try Tensor.zeros(shape: shape, dtype: dtype, on: backend)
    try backend.dequantize(self, into: out)
    return out
  }
}
