#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Writes a GGUF file the way ggml's `gguf_write_to_file` does: header, metadata in insertion
/// order, tensor infos, padding to the alignment, then each tensor's data padded to the alignment.
/// Tensor data are produced at write time, one tensor at a time (the file is never held in memory).
/// The write is plain; callers that need atomicity write to a temporary path and rename.
public struct GGUFWriter {
  public typealias Fill = @Sendable (UnsafeMutableRawBufferPointer) throws -> Void

  struct PendingTensor {
    var name: String
    var type: GGMLType
    var shape: [Int]
    var fill: Fill
    var providedByteCount: Int?
  }

  public var alignment: Int
  /// GGUF version to write: 3 (default), 2, or 1 (32-bit counts; for compatibility tests).
  public var version: UInt32 = 3
  public private(set) var metadata = GGUFMetadata()
  var tensors: [PendingTensor] = []

  public init(alignment: Int = 32) { self.alignment = alignment }

  /// Sets a metadata key; an existing key keeps its position.
  public mutating func set(_ key: String, _ value: GGUFValue) { metadata.set(key, value) }

  public mutating func remove(_ key: String) { metadata.remove(key) }

  /// Adds a tensor whose bytes `data` writes into a buffer of exactly the tensor's byte size at
  /// write time. Invalid names/shapes are reported by `write(to:)`.
  public mutating func addTensor(name: String, type: GGMLType, shape: [Int], data: @escaping Fill) {
    tensors.append(PendingTensor(name: name, type: type, shape: shape, fill: data, providedByteCount: nil))
  }

  public mutating func addTensor(name: String, type: GGMLType, shape: [Int], bytes: [UInt8]) {
    tensors.append(
      PendingTensor(
        name: name, type: type, shape: shape,
        fill: { out in bytes.withUnsafeBytes { out.copyMemory(from: $0) } },
        providedByteCount: bytes.count))
  }

  /// Copies `bytes` now (the pointer need not outlive this call).
  public mutating func addTensor(
    name: String, type: GGMLType, shape: [Int], bytes: UnsafeRawBufferPointer
  ) {
    addTensor(name: name, type: type, shape: shape, bytes: [UInt8](bytes))
  }

  /// The serialized header: everything before the tensor data, including the padding.
  /// Also returns each tensor's byte count.
  func header() throws(GGUFError) -> (bytes: [UInt8], sizes: [Int]) {
    guard alignment > 0, alignment & (alignment - 1) == 0, alignment <= GGUFParser.maxAlignment else {
      throw .invalidWriterInput(reason: "alignment \(alignment) is not a power of two ≤ 1 MiB")
    }
    guard (1...3).contains(version) else {
      throw .invalidWriterInput(reason: "version \(version) is not 1, 2 or 3")
    }
    var meta = metadata
    if let v = meta["general.alignment"] {
      guard case .uint32(let a) = v, Int(a) == alignment else {
        throw .invalidWriterInput(
          reason: "general.alignment is \(v.typeDescription) \(v), writer alignment is \(alignment)")
      }
    } else if alignment != GGUFParser.defaultAlignment {
      // Readers assume 32 without the key.
      meta.set("general.alignment", .uint32(UInt32(alignment)))
    }

    var out = ByteWriter(v1: version == 1)
    out.u32(Magic.gguf)
    out.u32(version)
    try out.count(tensors.count)
    try out.count(meta.count)
    for (key, value) in meta.entries {
      if key.isEmpty { throw .invalidWriterInput(reason: "empty metadata key") }
      try out.string(key)
      try out.value(value)
    }

    var names = Set<String>()
    var sizes: [Int] = []
    var offset = 0
    for t in tensors {
      if t.name.isEmpty || t.name.utf8.count > GGUFParser.maxNameBytes {
        throw .invalidWriterInput(reason: "tensor name '\(t.name)' must be 1...63 bytes")
      }
      guard names.insert(t.name).inserted else {
        throw .invalidWriterInput(reason: "duplicate tensor name '\(t.name)'")
      }
      guard t.shape.count <= GGUFParser.maxDims, t.shape.allSatisfy({ $0 >= 0 }) else {
        throw .invalidWriterInput(reason: "tensor '\(t.name)' shape \(t.shape) is invalid")
      }
      let size = try GGUFParser.byteCount(name: t.name, type: t.type, shape: t.shape)
      if let provided = t.providedByteCount, provided != size {
        throw .invalidWriterInput(
          reason: "tensor '\(t.name)' has \(provided) bytes, its type and shape need \(size)")
      }
      try out.string(t.name)
      out.u32(UInt32(t.shape.count))
      for ne in t.shape {
        if version == 1 {
          guard let v = UInt32(exactly: ne) else {
            throw .invalidWriterInput(reason: "dimension \(ne) does not fit GGUF v1")
          }
          out.u32(v)
        } else {
          out.u64(UInt64(ne))
        }
      }
      out.u32(t.type.rawValue)
      out.u64(UInt64(offset))
      sizes.append(size)
      guard let next = alignUp(offset + size, alignment) else {
        throw .invalidWriterInput(reason: "data section size overflows")
      }
      offset = next
    }
    out.pad(to: alignment)
    return (out.bytes, sizes)
  }

  /// Writes the file (truncating any existing one).
  public func write(to path: String) throws {
    let (head, sizes) = try header()
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw GGUFError.io(path: path, operation: "open", errno: errno) }
    var closed = false
    defer { if !closed { close(fd) } }

    func writeAll(_ p: UnsafeRawBufferPointer) throws {
      var done = 0
      while done < p.count {
        let n = systemWrite(fd, p.baseAddress! + done, p.count - done)
        if n < 0 {
          if errno == EINTR { continue }
          throw GGUFError.io(path: path, operation: "write", errno: errno)
        }
        done += n
      }
    }

    try head.withUnsafeBytes { try writeAll($0) }
    var written = head.count
    let zeros = [UInt8](repeating: 0, count: alignment)
    for (t, size) in zip(tensors, sizes) {
      if size > 0 {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        try t.fill(buffer)
        try writeAll(UnsafeRawBufferPointer(buffer))
        written += size
      }
      let pad = (alignUp(written, alignment) ?? written) - written
      if pad > 0 {
        try zeros.withUnsafeBytes { try writeAll(UnsafeRawBufferPointer(rebasing: $0[0..<pad])) }
        written += pad
      }
    }
    closed = true
    guard close(fd) == 0 else { throw GGUFError.io(path: path, operation: "close", errno: errno) }
  }
}

#if canImport(Glibc)
  private let systemWrite = Glibc.write
#elseif canImport(Darwin)
  private let systemWrite = Darwin.write
#endif

/// Little-endian serialization of the header.
struct ByteWriter {
  var bytes: [UInt8] = []
  let v1: Bool

  init(v1: Bool) { self.v1 = v1 }

  mutating func int<T: FixedWidthInteger>(_ v: T) {
    withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
  }
  mutating func u32(_ v: UInt32) { int(v) }
  mutating func u64(_ v: UInt64) { int(v) }

  mutating func count(_ n: Int) throws(GGUFError) {
    if v1 {
      guard let v = UInt32(exactly: n) else {
        throw .invalidWriterInput(reason: "count \(n) does not fit GGUF v1")
      }
      u32(v)
    } else {
      u64(UInt64(n))
    }
  }

  mutating func string(_ s: String) throws(GGUFError) {
    try count(s.utf8.count)
    bytes.append(contentsOf: s.utf8)
  }

  mutating func pad(to alignment: Int) {
    while bytes.count % alignment != 0 { bytes.append(0) }
  }

  mutating func value(_ v: GGUFValue) throws(GGUFError) {
    u32(v.valueType.rawValue)
    switch v {
    case .uint8(let x): int(x)
    case .int8(let x): int(x)
    case .uint16(let x): int(x)
    case .int16(let x): int(x)
    case .uint32(let x): int(x)
    case .int32(let x): int(x)
    case .float32(let x): int(x.bitPattern)
    case .bool(let x): int(UInt8(x ? 1 : 0))
    case .string(let x): try string(x)
    case .uint64(let x): int(x)
    case .int64(let x): int(x)
    case .float64(let x): int(x.bitPattern)
    case .array(let a):
      u32(a.elementType.rawValue)
      try count(a.count)
      switch a.elements {
      case .uint8(let xs): bytes.append(contentsOf: xs)
      case .int8(let xs): for x in xs { int(x) }
      case .uint16(let xs): for x in xs { int(x) }
      case .int16(let xs): for x in xs { int(x) }
      case .uint32(let xs): for x in xs { int(x) }
      case .int32(let xs): for x in xs { int(x) }
      case .float32(let xs): for x in xs { int(x.bitPattern) }
      case .bool(let xs): for x in xs { int(UInt8(x ? 1 : 0)) }
      case .string(let xs): for x in xs { try string(x) }
      case .uint64(let xs): for x in xs { int(x) }
      case .int64(let xs): for x in xs { int(x) }
      case .float64(let xs): for x in xs { int(x.bitPattern) }
      }
    }
  }
}
