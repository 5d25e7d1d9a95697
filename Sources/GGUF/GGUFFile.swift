#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Which container the file uses.
public enum GGUFFormat: Sendable, Equatable, CustomStringConvertible {
  case gguf(version: UInt32)
  /// Unversioned GGML (llama.cpp before May 2023): vocabulary without scores, no alignment.
  case ggml
  case ggmf(version: UInt32)
  case ggjt(version: UInt32)

  public var description: String {
    switch self {
    case .gguf(let v): "GGUF v\(v)"
    case .ggml: "GGML (unversioned)"
    case .ggmf(let v): "GGMF v\(v)"
    case .ggjt(let v): "GGJT v\(v)"
    }
  }
}

/// One tensor's entry in the file's tensor table.
public struct GGUFTensorInfo: Sendable, Equatable {
  public let name: String
  public let type: GGMLType
  /// ggml order: `shape[0]` (ne0) is the row length.
  public let shape: [Int]
  /// Absolute file offset of the tensor's data.
  public let offset: Int
  public let byteCount: Int

  public init(name: String, type: GGMLType, shape: [Int], offset: Int, byteCount: Int) {
    self.name = name
    self.type = type
    self.shape = shape
    self.offset = offset
    self.byteCount = byteCount
  }

  public var elementCount: Int { shape.reduce(1, *) }
}

/// The file's bytes: an `mmap` (or an owned copy for in-memory parsing), released when the last
/// `GGUFFile` copy goes.
final class FileBytes: @unchecked Sendable {
  // @unchecked: the memory is read-only after init and only freed in deinit.
  let buffer: UnsafeRawBufferPointer
  private let mapped: Bool
  /// This map's entry in `MappedRegions` (a SIGBUS report names the file).
  private var region: Int?

  init(path: String) throws(GGUFError) {
    // Non-blocking: opening a FIFO for reading would otherwise wait for a writer forever.
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { throw .io(path: path, operation: "open", errno: errno) }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw .io(path: path, operation: "fstat", errno: errno) }
    let type = st.st_mode & S_IFMT
    guard type == S_IFREG else {
      let kind =
        type == S_IFIFO
        ? "a FIFO"
        : type == S_IFDIR
          ? "a directory"
          : type == S_IFSOCK
            ? "a socket"
            : type == S_IFCHR || type == S_IFBLK ? "a device" : "not a file"
      throw .notRegularFile(path: path, kind: kind)
    }
    let size = Int(st.st_size)
    if size == 0 {
      buffer = UnsafeRawBufferPointer(start: nil, count: 0)
      mapped = false
      return
    }
    guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
      throw .io(path: path, operation: "mmap", errno: errno)
    }
    buffer = UnsafeRawBufferPointer(start: p, count: size)
    mapped = true
    region = MappedRegions.register(buffer, path: path)
  }

  /// An exactly sized private copy (so a sanitizer sees any read past the end).
  init(copying bytes: UnsafeRawBufferPointer) {
    if bytes.isEmpty {
      buffer = UnsafeRawBufferPointer(start: nil, count: 0)
    } else {
      let p = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
      p.copyMemory(from: bytes)
      buffer = UnsafeRawBufferPointer(p)
    }
    mapped = false
  }

  deinit {
    guard let base = buffer.baseAddress else { return }
    if mapped {
      MappedRegions.unregister(region)
      munmap(UnsafeMutableRawPointer(mutating: base), buffer.count)
    } else {
      base.deallocate()
    }
  }
}

/// A parsed, validated GGUF (v1–v3) or legacy GGML/GGMF/GGJT file. Immutable; tensor data are
/// zero-copy views into the map, valid while any copy of this value lives.
public struct GGUFFile: Sendable {
  public let path: String
  public let format: GGUFFormat
  public let alignment: Int
  public let dataOffset: Int
  public let metadata: GGUFMetadata
  public let tensors: [GGUFTensorInfo]
  private let tensorIndex: [String: Int]
  let bytes: FileBytes

  /// Maps and parses the file at `path`. Parsing reads only the header, metadata and tensor table.
  public init(path: String) throws(GGUFError) {
    try self.init(bytes: try FileBytes(path: path), path: path)
  }

  /// Parses a file image held in memory (copied once); for tests and fuzzing.
  public init(bytes: UnsafeRawBufferPointer, path: String = "<memory>") throws(GGUFError) {
    try self.init(bytes: FileBytes(copying: bytes), path: path)
  }

  public init(bytes: [UInt8], path: String = "<memory>") throws(GGUFError) {
    let owned = bytes.withUnsafeBytes { FileBytes(copying: $0) }
    try self.init(bytes: owned, path: path)
  }

  private init(bytes: FileBytes, path: String) throws(GGUFError) {
    let parsed = try parseAnyFormat(bytes.buffer)
    self.path = path
    self.bytes = bytes
    self.format = parsed.format
    self.alignment = parsed.alignment
    self.dataOffset = parsed.dataOffset
    self.metadata = parsed.metadata
    self.tensors = parsed.tensors
    var index: [String: Int] = [:]
    index.reserveCapacity(parsed.tensors.count)
    for (i, t) in parsed.tensors.enumerated() { index[t.name] = i }
    self.tensorIndex = index
  }

  public var version: UInt32 {
    switch format {
    case .gguf(let v), .ggmf(let v), .ggjt(let v): v
    case .ggml: 0
    }
  }

  public var fileSize: Int { bytes.buffer.count }

  public func tensor(named name: String) -> GGUFTensorInfo? {
    tensorIndex[name].map { tensors[$0] }
  }

  /// The tensor's bytes in the map. A `GGUFTensorInfo` that does not lie inside this file (one from
  /// another file) gets an empty buffer rather than a trap.
  public func data(for tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
    let buf = bytes.buffer
    guard tensor.offset >= 0, tensor.byteCount >= 0, tensor.offset <= buf.count,
      tensor.byteCount <= buf.count - tensor.offset
    else { return UnsafeRawBufferPointer(start: nil, count: 0) }
    return UnsafeRawBufferPointer(rebasing: buf[tensor.offset..<tensor.offset + tensor.byteCount])
  }

  /// Like `data(for:)`, keeping the map alive for the duration of `body`.
  public func withData<R>(
    for tensor: GGUFTensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R
  ) rethrows -> R {
    try withExtendedLifetime(bytes) { try body(data(for: tensor)) }
  }

  /// The whole file image (header included), valid while this value lives.
  public var rawBytes: UnsafeRawBufferPointer { bytes.buffer }
}

struct ParsedFile {
  var format: GGUFFormat
  var alignment: Int
  var dataOffset: Int
  var metadata: GGUFMetadata
  var tensors: [GGUFTensorInfo]
}

enum Magic {
  static let gguf: UInt32 = 0x4655_4747  // "GGUF" read as a little-endian u32
  static let ggufSwapped: UInt32 = 0x4747_5546  // "FUGG": the magic written big-endian
  static let ggml: UInt32 = 0x6767_6d6c
  static let ggmf: UInt32 = 0x6767_6d66
  static let ggjt: UInt32 = 0x6767_6a74
  /// The legacy magics written big-endian, by format name ("ggjt" read as "tjgg").
  static let legacySwapped: [UInt32: String] = [
    0x6c6d_6767: "GGML", 0x666d_6767: "GGMF", 0x746a_6767: "GGJT",
  ]
}

func parseAnyFormat(_ buf: UnsafeRawBufferPointer) throws(GGUFError) -> ParsedFile {
  var r = ByteReader(buf)
  let magic = try r.u32("magic")
  switch magic {
  case Magic.gguf:
    var parser = GGUFParser(buf)
    return try parser.parse()
  case Magic.ggml, Magic.ggmf, Magic.ggjt:
    var parser = LegacyParser(buf)
    return try parser.parse()
  case Magic.ggufSwapped:
    var v = r
    let version = (try? v.u32("version")) ?? 0
    throw .byteSwapped(format: "GGUF", version: version)
  default:
    if let format = Magic.legacySwapped[magic] {
      // GGML has no version field; GGMF/GGJT's follows the magic.
      var v = r
      let version = format == "GGML" ? nil : try? v.u32("version")
      throw .byteSwapped(format: format, version: version)
    }
    throw .badMagic(found: magic)
  }
}
