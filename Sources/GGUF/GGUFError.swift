#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Everything that can go wrong reading, validating or writing a GGUF (or legacy GGML) file.
/// Each case carries the facts: file offsets, keys, tensor names, the numbers that did not fit.
public enum GGUFError: Error, Sendable, Equatable, CustomStringConvertible {
  // I/O
  case io(path: String, operation: String, errno: Int32)
  /// A path that is not a regular file (a FIFO, a directory, a device): mapping or reading it would
  /// block or fail later.
  case notRegularFile(path: String, kind: String)

  // Header
  case truncated(offset: Int, needed: Int, available: Int, reading: String)
  case badMagic(found: UInt32)
  /// A big-endian file of `format` (GGUF, GGJT, GGMF, GGML): its version field (nil for GGML,
  /// which has none) reads as a byte-swapped number, or its magic is written byte-swapped.
  case byteSwapped(format: String, version: UInt32?)
  case unsupportedVersion(format: String, version: UInt32)
  case countTooLarge(what: String, count: UInt64, offset: Int, bytesLeft: Int)

  // Metadata
  case stringTooLong(offset: Int, length: UInt64, bytesLeft: Int)
  case invalidUTF8(offset: Int, context: String)
  case emptyKey(index: Int, offset: Int)
  case duplicateKey(key: String, offset: Int)
  case invalidValueType(key: String, rawType: UInt32, offset: Int)
  case nestedArray(key: String, offset: Int)
  case badAlignment(value: String, reason: String)

  // Tensor infos
  case emptyTensorName(index: Int, offset: Int)
  case tensorNameTooLong(name: String, length: Int, offset: Int)
  case duplicateTensor(name: String, offset: Int)
  case tooManyDimensions(tensor: String, nDims: UInt32, offset: Int)
  case badDimension(tensor: String, index: Int, value: Int64, offset: Int)
  case tensorSizeOverflow(tensor: String, shape: [Int64])
  case notBlockMultiple(tensor: String, type: String, rowLength: Int, blockSize: Int)
  case unknownTensorType(tensor: String, rawType: UInt32, offset: Int)
  case unalignedTensorOffset(tensor: String, offset: UInt64, alignment: Int)
  case tensorPastEnd(tensor: String, offset: UInt64, byteCount: Int, fileSize: Int)
  case overlappingTensors(first: String, second: String, offset: Int)

  // Legacy formats
  case unsupportedLegacyType(tensor: String, type: String, format: String, reason: String)

  // Typed metadata access and model consistency
  case missingKey(key: String)
  case metadataType(key: String, expected: String, actual: String)
  case valueOutOfRange(key: String, value: String, reason: String)
  case inconsistentMetadata(key: String, reason: String)

  // Building values / writing
  case arrayElementType(index: Int, expected: String, actual: String)
  case invalidWriterInput(reason: String)

  public var description: String {
    switch self {
    case .io(let path, let op, let e):
      return "\(op) '\(path)' failed: \(String(cString: strerror(e))) (errno \(e))"
    case .notRegularFile(let path, let kind):
      return "'\(path)' is \(kind), not a regular file: a model is read from a file"
    case .truncated(let off, let needed, let avail, let what):
      return "file truncated at offset \(off): reading \(what) needs \(needed) bytes, \(avail) left"
    case .badMagic(let m):
      return "not a GGUF/GGML file: magic 0x\(String(m, radix: 16))"
    case .byteSwapped(let f, let v?):
      return
        "version field 0x\(String(v, radix: 16)) looks byte-swapped: big-endian \(f) files are not supported"
    case .byteSwapped(let f, nil):
      return "magic is byte-swapped: big-endian \(f) files are not supported"
    case .unsupportedVersion(let f, let v):
      return "unsupported \(f) version \(v)"
    case .countTooLarge(let what, let n, let off, let left):
      return "\(what) \(n) at offset \(off) cannot fit in the \(left) bytes left"
    case .stringTooLong(let off, let len, let left):
      return "string at offset \(off) claims \(len) bytes, \(left) left"
    case .invalidUTF8(let off, let ctx):
      return "invalid UTF-8 in \(ctx) at offset \(off)"
    case .emptyKey(let i, let off):
      return "metadata key \(i) at offset \(off) is empty"
    case .duplicateKey(let k, let off):
      return "duplicate metadata key '\(k)' at offset \(off)"
    case .invalidValueType(let k, let t, let off):
      return "key '\(k)' has invalid value type \(t) at offset \(off)"
    case .nestedArray(let k, let off):
      return "key '\(k)' is an array of arrays (offset \(off)); nesting is not supported"
    case .badAlignment(let v, let why):
      return "general.alignment \(v): \(why)"
    case .emptyTensorName(let i, let off):
      return "tensor \(i) at offset \(off) has an empty name"
    case .tensorNameTooLong(let n, let len, let off):
      return "tensor name '\(n.prefix(80))' at offset \(off) is \(len) bytes (limit 63)"
    case .duplicateTensor(let n, let off):
      return "duplicate tensor name '\(n)' at offset \(off)"
    case .tooManyDimensions(let n, let d, let off):
      return "tensor '\(n)' has \(d) dimensions (max 4) at offset \(off)"
    case .badDimension(let n, let i, let v, let off):
      return "tensor '\(n)' dimension \(i) is \(v) at offset \(off)"
    case .tensorSizeOverflow(let n, let shape):
      return "tensor '\(n)' with shape \(shape) overflows the element count or byte size"
    case .notBlockMultiple(let n, let t, let row, let block):
      return "tensor '\(n)' of type \(t) has row length \(row), not a multiple of the block size \(block)"
    case .unknownTensorType(let n, let t, let off):
      return "tensor '\(n)' has unknown or removed type id \(t) at offset \(off)"
    case .unalignedTensorOffset(let n, let off, let a):
      return "tensor '\(n)' data offset \(off) is not a multiple of the alignment \(a)"
    case .tensorPastEnd(let n, let off, let size, let file):
      return "tensor '\(n)' data [\(off), +\(size)) runs past the end of the \(file)-byte file"
    case .overlappingTensors(let a, let b, let off):
      return "tensor '\(b)' at file offset \(off) overlaps tensor '\(a)'"
    case .unsupportedLegacyType(let n, let t, let f, let why):
      return "tensor '\(n)': type \(t) in a \(f) file is not supported: \(why)"
    case .missingKey(let k):
      return "metadata key '\(k)' is missing"
    case .metadataType(let k, let e, let a):
      return "metadata key '\(k)' has type \(a), expected \(e)"
    case .valueOutOfRange(let k, let v, let why):
      return "metadata key '\(k)' value \(v) out of range: \(why)"
    case .inconsistentMetadata(let k, let why):
      return "inconsistent model metadata at '\(k)': \(why)"
    case .arrayElementType(let i, let e, let a):
      return "array element \(i) has type \(a), expected \(e)"
    case .invalidWriterInput(let why):
      return "cannot write GGUF: \(why)"
    }
  }
}
