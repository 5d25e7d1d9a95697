import GGML

/// Every failure of the device/backend layer, carrying the facts: shapes, types, device, bytes.
/// Backends throw these (never trap); RELIABILITY.md B builds on this set.
public enum QuantaError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The device string could not be parsed ("cpu", "cuda:0", "rocm:1", "metal").
  case invalidDeviceString(String, reason: String)
  /// No backend is registered for this device kind.
  case noBackend(device: Device, registered: [DeviceKind])
  /// A backend exists but cannot open this device (no hardware, no driver, index out of range).
  case deviceUnavailable(device: Device, reason: String)
  /// The device cannot run this op for this type (RELIABILITY.md B9).
  case unsupported(op: String, type: String, device: Device)
  /// Shapes that do not fit together.
  case shapeMismatch(op: String, expected: String, actual: [Int])
  /// An element count that does not match a shape.
  case elementCount(op: String, shape: [Int], expected: Int, actual: Int)
  /// A dense or quantized element type an op does not accept.
  case typeMismatch(op: String, expected: String, actual: String)
  /// A quantized row length that is not a multiple of the type's block size.
  case notBlockMultiple(op: String, type: GGMLType, count: Int)
  /// An op that needs contiguous memory got a strided view.
  case notContiguous(op: String, shape: [Int], strides: [Int])
  /// Operands living on different devices (no silent transfer).
  case deviceMismatch(op: String, expected: Device, actual: Device)
  /// A buffer that belongs to another backend or is too small for the access.
  case invalidBuffer(op: String, reason: String)
  /// An index (token id, position, row) outside its range.
  case indexOutOfRange(op: String, index: Int, bound: Int)
  /// A parameter value that makes no sense (zero heads, negative window, ...).
  case invalidArgument(op: String, reason: String)
  /// Memory could not be allocated.
  case outOfMemory(device: Device, requestedBytes: Int, freeBytes: Int?)
  /// A size computation overflowed `Int`.
  case sizeOverflow(op: String, shape: [Int])

  public var description: String {
    switch self {
    case .invalidDeviceString(let s, let reason): return "invalid device '\(s)': \(reason)"
    case .noBackend(let d, let kinds):
      let names = kinds.map(\.description).sorted().joined(separator: ", ")
      return "no backend registered for \(d) (registered: \(names.isEmpty ? "none" : names))"
    case .deviceUnavailable(let d, let reason): return "\(d) is unavailable: \(reason)"
    case .unsupported(let op, let type, let d): return "\(op) on \(type) is not supported on \(d)"
    case .shapeMismatch(let op, let expected, let actual):
      return "\(op): shape \(actual) does not fit (expected \(expected))"
    case .elementCount(let op, let shape, let expected, let actual):
      return "\(op): shape \(shape) needs \(expected) values, got \(actual)"
    case .typeMismatch(let op, let expected, let actual):
      return "\(op): type \(actual) where \(expected) was expected"
    case .notBlockMultiple(let op, let type, let count):
      return "\(op): \(count) values is not a multiple of the \(type) block size \(type.blockSize)"
    case .notContiguous(let op, let shape, let strides):
      return "\(op): needs a contiguous tensor, got shape \(shape) strides \(strides)"
    case .deviceMismatch(let op, let expected, let actual):
      return "\(op): operand on \(actual), expected \(expected)"
    case .invalidBuffer(let op, let reason): return "\(op): invalid buffer: \(reason)"
    case .indexOutOfRange(let op, let index, let bound):
      return "\(op): index \(index) out of range 0..<\(bound)"
    case .invalidArgument(let op, let reason): return "\(op): \(reason)"
    case .outOfMemory(let d, let req, let free):
      return "out of memory on \(d): \(req) bytes requested" + (free.map { ", \($0) free" } ?? "")
    case .sizeOverflow(let op, let shape): return "\(op): size of shape \(shape) overflows"
    }
  }
}
