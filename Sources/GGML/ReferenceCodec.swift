/// The reference codecs: the spec every fast path (SIMD, CUDA, HIP, Metal) is tested against.
/// Each is bit-exact with ggml's `quantize_row_*_ref` / `dequantize_row_*`.

/// Dequantization of one GGML type. `count` is always a multiple of `type.blockSize`; `src` holds
/// `count / blockSize` blocks, `dst` has room for `count` floats.
public protocol GGMLDequantizer: Sendable {
  static var type: GGMLType { get }
  static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int)
}

/// A type that also has a reference quantizer (ggml's `quantize_row_*_ref`, no importance matrix).
public protocol GGMLQuantizer: GGMLDequantizer {
  static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, count: Int)
}

/// Errors of the codec entry points: wrong sizes are reported, never trapped on.
public enum GGMLCodecError: Error, Equatable, Sendable, CustomStringConvertible {
  case noDequantizer(GGMLType)
  case noQuantizer(GGMLType)
  case countNotMultipleOfBlock(type: GGMLType, count: Int)
  case bufferSize(type: GGMLType, expected: Int, actual: Int)

  public var description: String {
    switch self {
    case .noDequantizer(let t): return "no dequantizer for type \(t)"
    case .noQuantizer(let t): return "no quantizer for type \(t)"
    case .countNotMultipleOfBlock(let t, let n):
      return "\(n) values is not a multiple of the \(t) block size \(t.blockSize)"
    case .bufferSize(let t, let expected, let actual):
      return "\(t) buffer holds \(actual) bytes, \(expected) expected"
    }
  }
}

/// The one registry of reference codecs. Each group lives in its own file.
enum ReferenceCodecs {
  static let dequantizers: [GGMLType: any GGMLDequantizer.Type] = {
    var table: [GGMLType: any GGMLDequantizer.Type] = [:]
    for codec in scalarCodecs + legacyQuantCodecs + kQuantCodecs + iQuantCodecs {
      precondition(table[codec.type] == nil, "two codecs for \(codec.type)")
      table[codec.type] = codec
    }
    return table
  }()
}

extension GGMLType {
  /// The reference dequantizer, if this type has one.
  public var dequantizer: (any GGMLDequantizer.Type)? { ReferenceCodecs.dequantizers[self] }
  /// The reference quantizer, if this type has one.
  public var quantizer: (any GGMLQuantizer.Type)? {
    ReferenceCodecs.dequantizers[self] as? any GGMLQuantizer.Type
  }

  private func checkedBytes(_ count: Int) throws -> Int {
    guard let bytes = byteCount(forElements: count) else {
      throw GGMLCodecError.countNotMultipleOfBlock(type: self, count: count)
    }
    return bytes
  }

  /// Quantizes `values` (a multiple of the block size) with the reference quantizer.
  public func quantize(_ values: UnsafeBufferPointer<Float>) throws -> [UInt8] {
    guard let codec = quantizer else { throw GGMLCodecError.noQuantizer(self) }
    let bytes = try checkedBytes(values.count)
    guard let base = values.baseAddress, bytes > 0 else { return [] }
    return [UInt8](unsafeUninitializedCapacity: bytes) { out, initialized in
      codec.quantize(base, into: UnsafeMutableRawPointer(out.baseAddress!), count: values.count)
      initialized = bytes
    }
  }

  public func quantize(_ values: [Float]) throws -> [UInt8] {
    try values.withUnsafeBufferPointer { try quantize($0) }
  }

  /// Quantizes into caller-provided storage of exactly `byteCount(forElements:)` bytes.
  public func quantize(_ values: UnsafeBufferPointer<Float>, into dst: UnsafeMutableRawBufferPointer) throws {
    guard let codec = quantizer else { throw GGMLCodecError.noQuantizer(self) }
    let bytes = try checkedBytes(values.count)
    guard dst.count == bytes else {
      throw GGMLCodecError.bufferSize(type: self, expected: bytes, actual: dst.count)
    }
    guard let base = values.baseAddress, bytes > 0 else { return }
    codec.quantize(base, into: dst.baseAddress!, count: values.count)
  }

  /// Dequantizes `count` values from `blocks` (exactly `byteCount(forElements: count)` bytes) to f32.
  public func dequantize(_ blocks: UnsafeRawBufferPointer, count: Int) throws -> [Float] {
    guard let codec = dequantizer else { throw GGMLCodecError.noDequantizer(self) }
    let bytes = try checkedBytes(count)
    guard blocks.count == bytes else {
      throw GGMLCodecError.bufferSize(type: self, expected: bytes, actual: blocks.count)
    }
    guard count > 0 else { return [] }
    return [Float](unsafeUninitializedCapacity: count) { out, initialized in
      codec.dequantize(blocks.baseAddress!, into: out.baseAddress!, count: count)
      initialized = count
    }
  }

  public func dequantize(_ blocks: [UInt8], count: Int) throws -> [Float] {
    try blocks.withUnsafeBytes { try dequantize($0, count: count) }
  }

  /// Dequantizes into caller-provided storage of `count` floats.
  public func dequantize(_ blocks: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) throws
  {
    guard let codec = dequantizer else { throw GGMLCodecError.noDequantizer(self) }
    let bytes = try checkedBytes(dst.count)
    guard blocks.count == bytes else {
      throw GGMLCodecError.bufferSize(type: self, expected: bytes, actual: blocks.count)
    }
    guard dst.count > 0 else { return }
    codec.dequantize(blocks.baseAddress!, into: dst.baseAddress!, count: dst.count)
  }

  /// Dequantizes to IEEE half bits: the f32 result rounded to nearest-even, as ggml's
  /// `GGML_FP32_TO_FP16` does.
  public func dequantizeF16(_ blocks: UnsafeRawBufferPointer, count: Int) throws -> [UInt16] {
    let values = try dequantize(blocks, count: count)
    return values.map { fp32ToFp16($0) }
  }

  public func dequantizeF16(_ blocks: [UInt8], count: Int) throws -> [UInt16] {
    try blocks.withUnsafeBytes { try dequantizeF16($0, count: count) }
  }
}
