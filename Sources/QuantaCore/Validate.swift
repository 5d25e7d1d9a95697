/// The shared checks, done once in QuantaCore before any backend is called.
enum Validate {
  static func sameDevice(_ op: String, _ device: Device, _ tensors: Tensor?...) throws(QuantaError) {
    for t in tensors {
      guard let t else { continue }
      guard t.device == device else { throw .deviceMismatch(op: op, expected: device, actual: t.device) }
    }
  }

  static func sameBackend(_ op: String, _ backend: any ComputeBackend, _ tensors: Tensor?...)
    throws(QuantaError)
  {
    for t in tensors {
      guard let t else { continue }
      guard t.backend === backend else {
        throw .deviceMismatch(op: op, expected: backend.device, actual: t.device)
      }
    }
  }

  static func writable(_ op: String, _ buffer: any DeviceBuffer) throws(QuantaError) {
    guard !buffer.isReadOnly else {
      throw .invalidBuffer(op: op, reason: "destination is read-only memory (a view of a mapped file)")
    }
  }

  static func dtype(_ op: String, _ t: Tensor, _ expected: DType) throws(QuantaError) {
    guard t.dtype == expected else {
      throw .typeMismatch(op: op, expected: expected.rawValue, actual: t.dtype.rawValue)
    }
  }

  static func contiguous(_ op: String, _ tensors: Tensor?...) throws(QuantaError) {
    for t in tensors {
      guard let t else { continue }
      guard t.isContiguous else { throw .notContiguous(op: op, shape: t.shape, strides: t.strides) }
    }
  }

  /// f32, contiguous, on `backend`.
  static func f32Input(_ op: String, _ backend: any ComputeBackend, _ tensors: Tensor?...) throws(QuantaError)
  {
    for t in tensors {
      guard let t else { continue }
      try sameBackend(op, backend, t)
      try dtype(op, t, .f32)
      try contiguous(op, t)
    }
  }

  static func shape(_ op: String, _ t: Tensor, _ expected: [Int]) throws(QuantaError) {
    guard t.shape == expected else { throw .shapeMismatch(op: op, expected: "\(expected)", actual: t.shape) }
  }

  static func rank(_ op: String, _ t: Tensor, _ rank: Int, _ what: String) throws(QuantaError) {
    guard t.rank == rank else { throw .shapeMismatch(op: op, expected: what, actual: t.shape) }
  }

  /// `b` has `a`'s shape or a suffix of it.
  static func broadcastable(_ op: String, _ a: Tensor, _ b: Tensor) throws(QuantaError) {
    guard b.rank <= a.rank, Array(a.shape.suffix(b.rank)) == b.shape, b.count > 0 || a.count == 0 else {
      throw .shapeMismatch(op: op, expected: "a suffix of \(a.shape)", actual: b.shape)
    }
  }

  static func positions(_ op: String, _ positions: [Int32], count: Int) throws(QuantaError) {
    guard positions.count == count else {
      throw .invalidArgument(op: op, reason: "\(positions.count) positions for \(count) tokens")
    }
    for p in positions where p < 0 {
      throw .invalidArgument(op: op, reason: "negative position \(p)")
    }
  }
}
