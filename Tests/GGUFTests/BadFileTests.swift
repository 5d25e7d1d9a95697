import GGUF
import Testing

/// RELIABILITY.md section A, items 1–13: every malformed file is a typed error with the facts.
@Suite struct GGUFBadFileTests {
  /// A small valid v3 file: scalar, string, string array, float array, two tensors.
  static func smallValidFile() -> [UInt8] {
    var b = Bytes()
    b.header(tensors: 2, kv: 4)
    b.kvU32("general.alignment", 32)
    b.kvString("general.name", "tiny")
    b.str("tokenizer.ggml.tokens")
    b.u32(9)
    b.u32(8)
    b.u64(3)
    for t in ["a", "", "cd"] { b.str(t) }
    b.str("tokenizer.ggml.scores")
    b.u32(9)
    b.u32(6)
    b.u64(2)
    b.f32(1)
    b.f32(2)
    b.tensorInfo("w", type: 0, dims: [2, 2], offset: 0)
    b.tensorInfo("q", type: 8, dims: [32], offset: 32)  // q8_0: one 34-byte block
    b.pad(32)
    b.raw([UInt8](repeating: 1, count: 16))
    b.pad(32)
    b.raw([UInt8](repeating: 2, count: 34))
    return b.data
  }

  // A1
  @Test func everyCutPointIsATypedError() throws {
    let full = Self.smallValidFile()
    let f = try GGUFFile(bytes: full)
    #expect(f.tensors.count == 2 && f.metadata.count == 4)
    for cut in 0..<full.count {
      expectParseError(Array(full[0..<cut])) { e in
        switch e {
        case .truncated, .stringTooLong, .countTooLarge, .tensorPastEnd: return true
        default: return false
        }
      }
    }
    expectParseError([], .truncated(offset: 0, needed: 4, available: 0, reading: "magic"))
  }

  /// The cut inside a tensor's data names the tensor and the file size.
  @Test func cutInTensorDataNamesTheTensor() {
    let full = Self.smallValidFile()
    expectParseError(
      Array(full.dropLast()), .tensorPastEnd(tensor: "q", offset: 32, byteCount: 34, fileSize: full.count - 1)
    )
  }

  // A2
  @Test func wrongMagic() {
    expectParseError(Array("GGUX\u{3}\0\0\0".utf8), .badMagic(found: 0x5855_4747))
  }

  // A3
  @Test func badVersions() {
    for v: UInt32 in [0, 4, 0xFFFF] {
      var b = Bytes()
      b.header(version: v, tensors: 0, kv: 0)
      expectParseError(b.data, .unsupportedVersion(format: "GGUF", version: v))
    }
    var b = Bytes()
    b.raw(Array("GGUF".utf8))
    b.raw([0, 0, 0, 3])  // version 3 written big-endian
    b.raw([UInt8](repeating: 0, count: 16))
    expectParseError(b.data, .byteSwapped(format: "GGUF", version: 0x0300_0000))
    var swapped = Bytes()
    swapped.raw(Array("FUGG".utf8))  // magic written big-endian too
    swapped.raw([0, 0, 0, 3])
    expectParseError(swapped.data, .byteSwapped(format: "GGUF", version: 0x0300_0000))
  }

  // A4
  @Test func hugeCounts() {
    for n: UInt64 in [1 << 63, UInt64.max, 2] {
      var b = Bytes()
      b.header(tensors: n, kv: 0)
      b.raw([UInt8](repeating: 0, count: 40))  // room for one tensor info, not two
      expectParseError(b.data, .countTooLarge(what: "tensor count", count: n, offset: 8, bytesLeft: 40))
      var k = Bytes()
      k.header(tensors: 0, kv: n)
      k.raw([UInt8](repeating: 0, count: 20))
      expectParseError(k.data, .countTooLarge(what: "metadata count", count: n, offset: 16, bytesLeft: 20))
    }
    var v1 = Bytes()
    v1.header(version: 1, tensors: 0, kv: UInt64(UInt32.max))
    expectParseError(
      v1.data, .countTooLarge(what: "metadata count", count: UInt64(UInt32.max), offset: 12, bytesLeft: 0))
  }

  // A5
  @Test func hugeStringLengths() {
    var b = Bytes()
    b.header(tensors: 0, kv: 1)
    b.u64(UInt64.max)  // key length: the n + 1 wrap
    b.raw([UInt8](repeating: 0x61, count: 16))
    expectParseError(b.data, .stringTooLong(offset: 24, length: UInt64.max, bytesLeft: 16))

    var s = Bytes()
    s.header(tensors: 0, kv: 1)
    s.str("k")
    s.u32(8)
    s.u64(100)  // value longer than the file
    s.raw(Array("short".utf8))
    expectParseError(s.data, .stringTooLong(offset: 37, length: 100, bytesLeft: 5))
  }

  // A6
  @Test func badKeys() {
    var b = Bytes()
    b.header(tensors: 0, kv: 1)
    b.kvU32("", 1)
    expectParseError(b.data, .emptyKey(index: 0, offset: 24))

    var d = Bytes()
    d.header(tensors: 0, kv: 2)
    d.kvU32("a", 1)
    let second = d.data.count
    d.kvU32("a", 2)
    expectParseError(d.data, .duplicateKey(key: "a", offset: second))

    var u = Bytes()
    u.header(tensors: 0, kv: 1)
    u.u64(2)
    u.raw([0xC3, 0x28])  // invalid 2-byte sequence
    u.u32(4)
    u.u32(1)
    expectParseError(u.data, .invalidUTF8(offset: 32, context: "metadata key 0"))

    var v = Bytes()
    v.header(tensors: 0, kv: 1)
    v.str("k")
    v.u32(8)
    v.u64(1)
    v.raw([0xFF])
    expectParseError(v.data, .invalidUTF8(offset: 45, context: "value of 'k'"))
  }

  // A7
  @Test func badValueTypes() {
    for t: UInt32 in [13, 0xFFFF_FFFF] {
      var b = Bytes()
      b.header(tensors: 0, kv: 1)
      b.str("k")
      b.u32(t)
      b.u32(0)
      expectParseError(b.data, .invalidValueType(key: "k", rawType: t, offset: 33))
    }
    var nested = Bytes()
    nested.header(tensors: 0, kv: 1)
    nested.str("k")
    nested.u32(9)
    nested.u32(9)
    nested.u64(0)
    expectParseError(nested.data, .nestedArray(key: "k", offset: 37))

    var bad = Bytes()
    bad.header(tensors: 0, kv: 1)
    bad.str("k")
    bad.u32(9)
    bad.u32(77)
    bad.u64(0)
    expectParseError(bad.data, .invalidValueType(key: "k", rawType: 77, offset: 37))

    // count × 8 overflows; a string array longer than the file could hold.
    for (element, n): (UInt32, UInt64) in [(10, 1 << 61), (12, UInt64.max), (8, 3), (4, 1 << 62)] {
      var a = Bytes()
      a.header(tensors: 0, kv: 1)
      a.str("k")
      a.u32(9)
      a.u32(element)
      a.u64(n)
      a.raw([UInt8](repeating: 0, count: 16))
      expectParseError(
        a.data, .countTooLarge(what: "array count of 'k'", count: n, offset: 41, bytesLeft: 16))
    }
  }

  // A8
  @Test func badAlignment() {
    func file(_ kv: (inout Bytes) -> Void) -> [UInt8] {
      var b = Bytes()
      b.header(tensors: 0, kv: 1)
      kv(&b)
      return b.data
    }
    expectParseError(
      file {
        $0.str("general.alignment"); $0.u32(10); $0.u64(32)
      },
      .metadataType(key: "general.alignment", expected: "uint32", actual: "uint64"))
    expectParseError(
      file { $0.kvString("general.alignment", "32") },
      .metadataType(key: "general.alignment", expected: "uint32", actual: "string"))
    for a: UInt32 in [0, 3, 48] {
      expectParseError(
        file { $0.kvU32("general.alignment", a) }, .badAlignment(value: "\(a)", reason: "not a power of two"))
    }
    expectParseError(
      file { $0.kvU32("general.alignment", 1 << 31) },
      .badAlignment(value: "\(1 << 31)", reason: "larger than 1048576"))
  }

  static func oneTensor(_ name: String, type: UInt32 = 0, dims: [UInt64], offset: UInt64 = 0, data: Int = 64)
    -> [UInt8]
  {
    var b = Bytes()
    b.header(tensors: 1, kv: 0)
    b.tensorInfo(name, type: type, dims: dims, offset: offset)
    b.pad(32)
    b.raw([UInt8](repeating: 0, count: data))
    return b.data
  }

  // A9
  @Test func badTensorNames() throws {
    expectParseError(Self.oneTensor("", dims: [1]), .emptyTensorName(index: 0, offset: 24))
    let long = String(repeating: "x", count: 64)
    expectParseError(Self.oneTensor(long, dims: [1]), .tensorNameTooLong(name: long, length: 64, offset: 24))
    _ = try GGUFFile(bytes: Self.oneTensor(String(repeating: "x", count: 63), dims: [1]))

    var b = Bytes()
    b.header(tensors: 2, kv: 0)
    b.tensorInfo("t", dims: [1], offset: 0)
    let second = b.data.count
    b.tensorInfo("t", dims: [1], offset: 32)
    b.pad(32)
    b.raw([UInt8](repeating: 0, count: 64))
    expectParseError(b.data, .duplicateTensor(name: "t", offset: second))
  }

  // A10
  @Test func badShapes() {
    expectParseError(
      Self.oneTensor("t", dims: [1, 1, 1, 1, 1]), .tooManyDimensions(tensor: "t", nDims: 5, offset: 33))
    expectParseError(
      Self.oneTensor("t", dims: [2, UInt64.max]), .badDimension(tensor: "t", index: 1, value: -1, offset: 45))
    expectParseError(
      Self.oneTensor("t", dims: [1 << 32, 1 << 32]),
      .tensorSizeOverflow(tensor: "t", shape: [1 << 32, 1 << 32]))
    // Elements fit in Int, bytes (× 4 for f32) do not.
    expectParseError(Self.oneTensor("t", dims: [1 << 62]), .tensorSizeOverflow(tensor: "t", shape: [1 << 62]))
    expectParseError(
      Self.oneTensor("t", type: 2, dims: [33]),
      .notBlockMultiple(tensor: "t", type: "q4_0", rowLength: 33, blockSize: 32))
    expectParseError(
      Self.oneTensor("t", type: 12, dims: [128, 2]),
      .notBlockMultiple(tensor: "t", type: "q4_K", rowLength: 128, blockSize: 256))
  }

  // A11
  @Test(arguments: [UInt32(4), 5, 31, 32, 33, 36, 37, 38, 43, 1000, 0xFFFF_FFFF])
  func unknownTensorTypes(_ type: UInt32) {
    expectParseError(
      Self.oneTensor("t", type: type, dims: [32]), .unknownTensorType(tensor: "t", rawType: type, offset: 45))
  }

  // A12
  @Test func badTensorOffsets() {
    expectParseError(
      Self.oneTensor("t", dims: [1], offset: 16),
      .unalignedTensorOffset(tensor: "t", offset: 16, alignment: 32))
    expectParseError(
      Self.oneTensor("t", dims: [17], data: 64),
      .tensorPastEnd(tensor: "t", offset: 0, byteCount: 68, fileSize: 128))
    expectParseError(
      Self.oneTensor("t", dims: [1], offset: 64, data: 64),
      .tensorPastEnd(tensor: "t", offset: 64, byteCount: 4, fileSize: 128))
    let wrap = UInt64.max - 31  // aligned, and offset + size wraps around
    expectParseError(
      Self.oneTensor("t", dims: [16], offset: wrap),
      .tensorPastEnd(tensor: "t", offset: wrap, byteCount: 64, fileSize: 128))

    var b = Bytes()
    b.header(tensors: 2, kv: 0)
    b.tensorInfo("a", dims: [16], offset: 0)
    b.tensorInfo("b", dims: [8], offset: 32)  // a spans [0, 64)
    b.pad(32)
    let data = b.data.count
    b.raw([UInt8](repeating: 0, count: 128))
    expectParseError(b.data, .overlappingTensors(first: "a", second: "b", offset: data + 32))
  }

  /// Tensors listed out of data order are fine as long as they do not overlap.
  @Test func outOfOrderTensorsAccepted() throws {
    var b = Bytes()
    b.header(tensors: 2, kv: 0)
    b.tensorInfo("late", dims: [8], offset: 32)
    b.tensorInfo("early", dims: [8], offset: 0)
    b.pad(32)
    b.raw([UInt8](repeating: 0, count: 64))
    let f = try GGUFFile(bytes: b.data)
    #expect(f.tensors.map(\.name) == ["late", "early"])
  }

  // A13
  @Test func knownKeysWithWrongTypes() throws {
    var w = GGUFWriter()
    w.set("tokenizer.ggml.scores", .array(GGUFArray(.int8([1, 2]))))
    w.set("llama.block_count", .string("32"))
    let path = temporaryPath()
    try w.write(to: path)
    let m = try GGUFFile(path: path).metadata
    #expect(
      throws: GGUFError.metadataType(
        key: "tokenizer.ggml.scores", expected: "array[float32]", actual: "array[int8]")
    ) {
      try m.floatArray("tokenizer.ggml.scores")
    }
    #expect(throws: GGUFError.metadataType(key: "llama.block_count", expected: "uint32", actual: "string")) {
      try m.uint32("llama.block_count")
    }
    #expect(throws: GGUFError.metadataType(key: "llama.block_count", expected: "integer", actual: "string")) {
      try m.int("llama.block_count")
    }
  }
}
