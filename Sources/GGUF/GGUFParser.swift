/// Parses GGUF v1–v3 (ggml's gguf.cpp is the reference). Version 1 uses 32-bit counts, string
/// lengths and dimensions; v2 and v3 use 64-bit ones. Every count is checked against the bytes left
/// before anything is reserved, so a lying header costs an error, not memory.
struct GGUFParser {
  static let maxDims = 4  // GGML_MAX_DIMS
  static let maxNameBytes = 63  // GGML_MAX_NAME is 64 including the NUL
  static let maxAlignment = 1 << 20  // no writer pads to more than a MiB; larger is a corrupt file
  static let defaultAlignment = 32  // GGUF_DEFAULT_ALIGNMENT

  var r: ByteReader
  var version: UInt32 = 0

  init(_ buf: UnsafeRawBufferPointer) { r = ByteReader(buf) }

  var isV1: Bool { version == 1 }

  /// A count/length: u32 in v1, u64 later.
  mutating func count(_ what: @autoclosure () -> String) throws(GGUFError) -> UInt64 {
    isV1 ? UInt64(try r.u32(what())) : try r.u64(what())
  }

  /// Checks `n` items of at least `minBytes` each can fit in what is left, and returns `n` as Int.
  mutating func checkedCount(
    _ n: UInt64, minBytes: Int, _ what: String, at offset: Int
  ) throws(GGUFError) -> Int {
    guard n <= UInt64(r.remaining / max(minBytes, 1)) else {
      throw .countTooLarge(what: what, count: n, offset: offset, bytesLeft: r.remaining)
    }
    return Int(n)
  }

  mutating func string(_ what: @autoclosure () -> String) throws(GGUFError) -> String {
    let lengthOffset = r.position
    let length = try count(what() + " length")
    guard length <= UInt64(r.remaining) else {
      throw .stringTooLong(offset: lengthOffset, length: length, bytesLeft: r.remaining)
    }
    return try r.string(length: length, what())
  }

  mutating func parse() throws(GGUFError) -> ParsedFile {
    _ = try r.u32("magic")
    version = try r.u32("version")
    if version != 0 && version & 0xFFFF == 0 { throw .byteSwapped(format: "GGUF", version: version) }
    guard (1...3).contains(version) else {
      throw .unsupportedVersion(format: "GGUF", version: version)
    }
    let nTensorsOffset = r.position
    let nTensorsRaw = try count("tensor count")
    let nKVOffset = r.position
    let nKVRaw = try count("metadata count")
    // Smallest possible entries: key (len + 1 byte) + type + 1-byte value; tensor info:
    // name (len + 1 byte) + n_dims + type + offset.
    let lenBytes = isV1 ? 4 : 8
    let nKV = try checkedCount(nKVRaw, minBytes: lenBytes + 1 + 4 + 1, "metadata count", at: nKVOffset)
    let nTensors = try checkedCount(
      nTensorsRaw, minBytes: lenBytes + 1 + 4 + 4 + 8, "tensor count", at: nTensorsOffset)

    var metadata = GGUFMetadata()
    for i in 0..<nKV {
      let keyOffset = r.position
      let key = try string("metadata key \(i)")
      if key.isEmpty { throw .emptyKey(index: i, offset: keyOffset) }
      if metadata.contains(key) { throw .duplicateKey(key: key, offset: keyOffset) }
      let value = try readValue(key: key)
      metadata.appendNew(key, value)
    }

    let alignment = try Self.alignment(from: metadata)

    var tensors: [GGUFTensorInfo] = []
    var relativeOffsets: [(offset: UInt64, infoOffset: Int)] = []
    tensors.reserveCapacity(nTensors)
    relativeOffsets.reserveCapacity(nTensors)
    var names = Set<String>()
    for i in 0..<nTensors {
      let infoOffset = r.position
      let name = try string("tensor \(i) name")
      if name.isEmpty { throw .emptyTensorName(index: i, offset: infoOffset) }
      if name.utf8.count > Self.maxNameBytes {
        throw .tensorNameTooLong(name: name, length: name.utf8.count, offset: infoOffset)
      }
      guard names.insert(name).inserted else { throw .duplicateTensor(name: name, offset: infoOffset) }
      let dimsOffset = r.position
      let nDims = try r.u32("tensor '\(name)' n_dims")
      guard nDims <= Self.maxDims else {
        throw .tooManyDimensions(tensor: name, nDims: nDims, offset: dimsOffset)
      }
      var rawShape: [Int64] = []
      for d in 0..<Int(nDims) {
        let at = r.position
        let ne: Int64 =
          isV1
          ? Int64(try r.u32("tensor '\(name)' dimension \(d)"))
          : Int64(bitPattern: try r.u64("tensor '\(name)' dimension \(d)"))
        if ne < 0 { throw .badDimension(tensor: name, index: d, value: ne, offset: at) }
        rawShape.append(ne)
      }
      let typeOffset = r.position
      let rawType = try r.u32("tensor '\(name)' type")
      guard let type = GGMLType(rawValue: rawType) else {
        throw .unknownTensorType(tensor: name, rawType: rawType, offset: typeOffset)
      }
      let shape = rawShape.map { Int($0) }
      let byteCount = try Self.byteCount(name: name, type: type, shape: shape)
      let offset = try r.u64("tensor '\(name)' offset")
      tensors.append(GGUFTensorInfo(name: name, type: type, shape: shape, offset: 0, byteCount: byteCount))
      relativeOffsets.append((offset, infoOffset))
    }

    // The data section starts at the next multiple of the alignment (ggml seeks there only when
    // there are tensors; an empty file may end right after its metadata).
    let headerEnd = r.position
    let dataOffset: Int
    if nTensors > 0 {
      try r.align(to: alignment, "padding before the tensor data")
      dataOffset = r.position
    } else {
      dataOffset = min(alignUp(headerEnd, alignment) ?? headerEnd, r.base.count)
    }

    let fileSize = r.base.count
    for i in tensors.indices {
      let t = tensors[i]
      let rel = relativeOffsets[i].offset
      guard rel % UInt64(alignment) == 0 else {
        throw .unalignedTensorOffset(tensor: t.name, offset: rel, alignment: alignment)
      }
      guard rel <= UInt64(fileSize - dataOffset), t.byteCount <= fileSize - dataOffset - Int(rel)
      else {
        throw .tensorPastEnd(tensor: t.name, offset: rel, byteCount: t.byteCount, fileSize: fileSize)
      }
      tensors[i] = GGUFTensorInfo(
        name: t.name, type: t.type, shape: t.shape, offset: dataOffset + Int(rel),
        byteCount: t.byteCount)
    }
    try checkNoOverlap(tensors)
    return ParsedFile(
      format: .gguf(version: version), alignment: alignment, dataOffset: dataOffset,
      metadata: metadata, tensors: tensors)
  }

  static func alignment(from metadata: GGUFMetadata) throws(GGUFError) -> Int {
    guard let v = metadata["general.alignment"] else { return defaultAlignment }
    guard case .uint32(let a) = v else {
      throw .metadataType(key: "general.alignment", expected: "uint32", actual: v.typeDescription)
    }
    guard a != 0, a & (a - 1) == 0 else {
      throw .badAlignment(value: "\(a)", reason: "not a power of two")
    }
    guard Int(a) <= maxAlignment else {
      throw .badAlignment(value: "\(a)", reason: "larger than \(maxAlignment)")
    }
    return Int(a)
  }

  /// Element count and byte size, overflow-checked; the row length must be a whole number of blocks.
  static func byteCount(name: String, type: GGMLType, shape: [Int]) throws(GGUFError) -> Int {
    var elements = 1
    for ne in shape {
      let (p, o) = elements.multipliedReportingOverflow(by: ne)
      if o { throw .tensorSizeOverflow(tensor: name, shape: shape.map { Int64($0) }) }
      elements = p
    }
    let row = shape.first ?? 1
    guard row % type.blockSize == 0 else {
      throw .notBlockMultiple(
        tensor: name, type: type.name, rowLength: row, blockSize: type.blockSize)
    }
    guard let bytes = type.byteCount(forElements: elements) else {
      throw .tensorSizeOverflow(tensor: name, shape: shape.map { Int64($0) })
    }
    return bytes
  }

  mutating func readValue(key: String) throws(GGUFError) -> GGUFValue {
    let typeOffset = r.position
    let raw = try r.u32("type of '\(key)'")
    guard let type = GGUFValueType(rawValue: raw) else {
      throw .invalidValueType(key: key, rawType: raw, offset: typeOffset)
    }
    if type != .array { return try readScalar(type, key: key) }

    let elementOffset = r.position
    let rawElement = try r.u32("element type of '\(key)'")
    guard let element = GGUFValueType(rawValue: rawElement) else {
      throw .invalidValueType(key: key, rawType: rawElement, offset: elementOffset)
    }
    if element == .array { throw .nestedArray(key: key, offset: elementOffset) }
    let countOffset = r.position
    let n = try checkedCount(
      try count("count of '\(key)'"), minBytes: element.fixedSize ?? (isV1 ? 4 : 8),
      "array count of '\(key)'", at: countOffset)
    return .array(GGUFArray(try readArray(element, count: n, key: key)))
  }

  mutating func readScalar(_ type: GGUFValueType, key: String) throws(GGUFError) -> GGUFValue {
    let what = "value of '\(key)'"
    switch type {
    case .uint8: return .uint8(try r.read(UInt8.self, what))
    case .int8: return .int8(try r.read(Int8.self, what))
    case .uint16: return .uint16(try r.read(UInt16.self, what))
    case .int16: return .int16(try r.read(Int16.self, what))
    case .uint32: return .uint32(try r.read(UInt32.self, what))
    case .int32: return .int32(try r.read(Int32.self, what))
    case .float32: return .float32(Float(bitPattern: try r.read(UInt32.self, what)))
    case .bool: return .bool(try r.read(UInt8.self, what) != 0)
    case .string: return .string(try string(what))
    case .uint64: return .uint64(try r.read(UInt64.self, what))
    case .int64: return .int64(try r.read(Int64.self, what))
    case .float64: return .float64(Double(bitPattern: try r.read(UInt64.self, what)))
    case .array: throw .nestedArray(key: key, offset: r.position)
    }
  }

  /// Fixed-size elements are copied in one bounds-checked pass; `n` was checked against the bytes
  /// left by the caller.
  mutating func fixed<T: FixedWidthInteger>(_: T.Type, _ n: Int, key: String) throws(GGUFError)
    -> [T]
  {
    let raw = try r.bytes(n * MemoryLayout<T>.size, "array '\(key)'")
    return [T](unsafeUninitializedCapacity: n) { out, initialized in
      for i in 0..<n {
        out[i] = T(littleEndian: raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self))
      }
      initialized = n
    }
  }

  mutating func readArray(_ element: GGUFValueType, count n: Int, key: String) throws(GGUFError)
    -> GGUFArray.Elements
  {
    switch element {
    case .uint8: return .uint8(try fixed(UInt8.self, n, key: key))
    case .int8: return .int8(try fixed(Int8.self, n, key: key))
    case .uint16: return .uint16(try fixed(UInt16.self, n, key: key))
    case .int16: return .int16(try fixed(Int16.self, n, key: key))
    case .uint32: return .uint32(try fixed(UInt32.self, n, key: key))
    case .int32: return .int32(try fixed(Int32.self, n, key: key))
    case .float32: return .float32(try fixed(UInt32.self, n, key: key).map(Float.init(bitPattern:)))
    case .bool: return .bool(try fixed(UInt8.self, n, key: key).map { $0 != 0 })
    case .uint64: return .uint64(try fixed(UInt64.self, n, key: key))
    case .int64: return .int64(try fixed(Int64.self, n, key: key))
    case .float64:
      return .float64(try fixed(UInt64.self, n, key: key).map(Double.init(bitPattern:)))
    case .string:
      var out: [String] = []
      out.reserveCapacity(n)
      for i in 0..<n { out.append(try string("'\(key)'[\(i)]")) }
      return .string(out)
    case .array: throw .nestedArray(key: key, offset: r.position)
    }
  }
}

/// Tensors may appear in any order, but their data must not overlap.
func checkNoOverlap(_ tensors: [GGUFTensorInfo]) throws(GGUFError) {
  let order = tensors.indices.sorted { tensors[$0].offset < tensors[$1].offset }
  var previous: Int? = nil
  for i in order {
    if let p = previous, tensors[p].offset + tensors[p].byteCount > tensors[i].offset {
      throw .overlappingTensors(
        first: tensors[p].name, second: tensors[i].name, offset: tensors[i].offset)
    }
    if tensors[i].byteCount > 0 || previous == nil { previous = i }
  }
}
