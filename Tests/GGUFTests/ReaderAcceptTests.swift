import Foundation
import GGUF
import Testing

/// Files that must be accepted (RELIABILITY.md: guards against over-strict fixes), and the writer.
@Suite struct GGUFAcceptTests {
  func roundTrip(_ w: GGUFWriter) throws -> GGUFFile {
    let path = temporaryPath()
    defer { try? FileManager.default.removeItem(atPath: path) }
    try w.write(to: path)
    return try GGUFFile(path: path)  // the map outlives the unlinked path
  }

  @Test(arguments: [UInt32(1), 2, 3])
  func emptyFile(version: UInt32) throws {
    var b = Bytes()
    b.header(version: version, tensors: 0, kv: 0)
    let f = try GGUFFile(bytes: b.data)
    #expect(f.format == .gguf(version: version))
    #expect(f.metadata.isEmpty && f.tensors.isEmpty)
    #expect(f.fileSize == b.data.count)

    var w = GGUFWriter()
    w.version = version
    let g = try roundTrip(w)
    #expect(g.version == version && g.metadata.isEmpty && g.tensors.isEmpty)
    // ggml pads the header to the alignment even with no tensors.
    #expect(g.fileSize == 32)
  }

  static let everyValue: [(String, GGUFValue)] = [
    ("u8", .uint8(200)), ("i8", .int8(-100)), ("u16", .uint16(60000)), ("i16", .int16(-30000)),
    ("u32", .uint32(4_000_000_000)), ("i32", .int32(-2_000_000_000)), ("f32", .float32(-1.5)),
    ("bool", .bool(true)), ("str", .string("héllo ▁ 世界")), ("empty.str", .string("")),
    ("u64", .uint64(UInt64.max)), ("i64", .int64(Int64.min)), ("f64", .float64(3.25e300)),
    ("a.u8", .array(GGUFArray(.uint8([0, 255])))), ("a.i8", .array(GGUFArray(.int8([-128, 127])))),
    ("a.u16", .array(GGUFArray(.uint16([1, 65535])))), ("a.i16", .array(GGUFArray(.int16([-1, 2])))),
    ("a.u32", .array(GGUFArray(.uint32([7])))), ("a.i32", .array(GGUFArray(.int32([-7, 8, 9])))),
    ("a.f32", .array(GGUFArray(.float32([0.5, -0.25, .infinity])))),
    ("a.bool", .array(GGUFArray(.bool([true, false, true])))),
    ("a.str", .array(GGUFArray(.string(["", "a", "ü", ""])))),
    ("a.u64", .array(GGUFArray(.uint64([UInt64.max, 0])))),
    ("a.i64", .array(GGUFArray(.int64([Int64.min])))),
    ("a.f64", .array(GGUFArray(.float64([1e-300])))),
    ("a.empty.u8", .array(GGUFArray(.uint8([])))), ("a.empty.str", .array(GGUFArray(.string([])))),
    ("a.empty.f64", .array(GGUFArray(.float64([])))), ("a.empty.bool", .array(GGUFArray(.bool([])))),
  ]

  @Test(arguments: [UInt32(1), 2, 3])
  func everyValueTypeRoundTrips(version: UInt32) throws {
    var w = GGUFWriter()
    w.version = version
    for (k, v) in Self.everyValue { w.set(k, v) }
    let f = try roundTrip(w)
    #expect(f.metadata.keys == Self.everyValue.map(\.0))
    for (k, v) in Self.everyValue { #expect(f.metadata[k] == v, "\(k)") }
    #expect(f.metadata["a.u8"]?.valueType == .array)
    if case .array(let a) = f.metadata["a.i32"] {
      #expect(a.elementType == .int32)
      #expect(a.values == [.int32(-7), .int32(8), .int32(9)])
    } else {
      Issue.record("a.i32 is not an array")
    }
  }

  /// The on-disk layout of a v3 scalar, checked against hand-assembled bytes.
  @Test func writerMatchesHandAssembledBytes() throws {
    var w = GGUFWriter()
    w.set("k", .uint32(7))
    w.addTensor(name: "t", type: .f32, shape: [2], bytes: [1, 2, 3, 4, 5, 6, 7, 8])
    let path = temporaryPath()
    defer { try? FileManager.default.removeItem(atPath: path) }
    try w.write(to: path)
    var b = Bytes()
    b.header(tensors: 1, kv: 1)
    b.kvU32("k", 7)
    b.tensorInfo("t", dims: [2], offset: 0)
    b.pad(32)
    b.raw([1, 2, 3, 4, 5, 6, 7, 8])
    b.pad(32)
    #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) == b.data)
  }

  @Test func zeroElementTensor() throws {
    var w = GGUFWriter()
    w.addTensor(name: "empty", type: .q4_0, shape: [0, 5], bytes: [])
    w.addTensor(name: "after", type: .f32, shape: [1], bytes: [0, 0, 0x80, 0x3f])
    let f = try roundTrip(w)
    let e = try #require(f.tensor(named: "empty"))
    #expect(e.elementCount == 0 && e.byteCount == 0 && e.shape == [0, 5])
    #expect(f.data(for: e).count == 0)
    let a = try #require(f.tensor(named: "after"))
    #expect(f.data(for: a).load(as: Float.self) == 1)
  }

  @Test(arguments: [1, 32, 64])
  func alignment(_ alignment: Int) throws {
    var w = GGUFWriter(alignment: alignment)
    w.set("x", .string("abc"))
    let payloads: [[UInt8]] = [Array(0..<6), Array(10..<14), Array(20..<30)]
    for (i, p) in payloads.enumerated() {
      w.addTensor(name: "t\(i)", type: .i8, shape: [p.count], bytes: p)
    }
    let f = try roundTrip(w)
    #expect(f.alignment == alignment)
    // Readers assume 32 without the key, so the writer records any other alignment.
    #expect(f.metadata["general.alignment"] == (alignment == 32 ? nil : .uint32(UInt32(alignment))))
    #expect(f.dataOffset % alignment == 0)
    for (i, p) in payloads.enumerated() {
      let t = try #require(f.tensor(named: "t\(i)"))
      #expect(t.offset % alignment == 0)
      #expect(Array(f.data(for: t)) == p)
    }
    if alignment == 1 {
      #expect(f.fileSize == f.dataOffset + 20)  // no padding anywhere
    }
  }

  @Test func tensorRoundTripWithStreamingFill() throws {
    var w = GGUFWriter()
    w.set("general.architecture", .string("test"))
    let shape = [64, 3]  // two q8_0 blocks per row
    w.addTensor(name: "q", type: .q8_0, shape: shape) { out in
      for i in 0..<out.count { out[i] = UInt8(truncatingIfNeeded: i &* 31) }
    }
    w.addTensor(name: "f", type: .f16, shape: [3, 2, 2, 2], bytes: [UInt8](repeating: 0x3c, count: 48))
    let f = try roundTrip(w)
    let q = try #require(f.tensor(named: "q"))
    #expect(q.type == .q8_0 && q.shape == shape && q.byteCount == 3 * 2 * 34)
    let expected = (0..<q.byteCount).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    #expect(f.withData(for: q) { Array($0) } == expected)
    let g = try #require(f.tensor(named: "f"))
    #expect(g.shape == [3, 2, 2, 2] && g.elementCount == 24 && g.byteCount == 48)
    #expect(f.tensors.map(\.name) == ["q", "f"])
  }

  @Test func writerRejectsBadInput() throws {
    func fails(_ w: GGUFWriter) {
      #expect(throws: GGUFError.self) { try w.write(to: temporaryPath()) }
    }
    var w = GGUFWriter()
    w.addTensor(name: "", type: .f32, shape: [1], bytes: [0, 0, 0, 0])
    fails(w)
    w = GGUFWriter()
    w.addTensor(name: String(repeating: "n", count: 64), type: .f32, shape: [1], bytes: [0, 0, 0, 0])
    fails(w)
    w = GGUFWriter()
    w.addTensor(name: "a", type: .f32, shape: [1], bytes: [0, 0, 0])  // wrong byte count
    fails(w)
    w = GGUFWriter()
    w.addTensor(name: "a", type: .q4_0, shape: [33], bytes: [])  // not whole blocks
    fails(w)
    w = GGUFWriter()
    w.addTensor(name: "a", type: .f32, shape: [1], bytes: [0, 0, 0, 0])
    w.addTensor(name: "a", type: .f32, shape: [1], bytes: [0, 0, 0, 0])
    fails(w)
    fails(GGUFWriter(alignment: 3))
    w = GGUFWriter(alignment: 64)
    w.set("general.alignment", .uint32(32))
    fails(w)
    w = GGUFWriter()
    w.set("", .uint8(1))
    fails(w)
  }

  @Test func typedAccessors() throws {
    var w = GGUFWriter()
    w.set("s", .string("x"))
    w.set("u32", .uint32(5))
    w.set("i8", .int8(-3))
    w.set("u64", .uint64(UInt64.max))
    w.set("f", .float32(0.5))
    w.set("b", .bool(false))
    w.set("toks", .array(GGUFArray(.string(["a", "b"]))))
    w.set("ids", .array(GGUFArray(.int32([1, 2]))))
    w.set("fs", .array(GGUFArray(.float32([1.5]))))
    let m = try roundTrip(w).metadata
    #expect(try m.string("s") == "x")
    #expect(try m.uint32("u32") == 5)
    #expect(try m.int("u32") == 5)
    #expect(try m.int("i8") == -3)
    #expect(try m.float("f") == 0.5)
    #expect(try m.bool("b") == false)
    #expect(try m.stringArray("toks") == ["a", "b"])
    #expect(try m.int32Array("ids") == [1, 2])
    #expect(try m.floatArray("fs") == [1.5])
    #expect(try m.optionalString("nope") == nil)
    #expect(try m.optionalUInt32("u32") == 5)
    #expect(try m.optionalFloatArray("nope") == nil)

    #expect(throws: GGUFError.missingKey(key: "nope")) { try m.string("nope") }
    #expect(throws: GGUFError.metadataType(key: "i8", expected: "uint32", actual: "int8")) {
      try m.uint32("i8")
    }
    #expect(throws: GGUFError.metadataType(key: "s", expected: "integer", actual: "string")) {
      try m.int("s")
    }
    #expect(throws: GGUFError.self) { try m.int("u64") }  // does not fit Int
    #expect(throws: GGUFError.metadataType(key: "ids", expected: "array[float32]", actual: "array[int32]")) {
      try m.floatArray("ids")
    }
    // The optional variants return nil only for absence: a wrong type still throws.
    #expect(throws: GGUFError.metadataType(key: "s", expected: "bool", actual: "string")) {
      try m.optionalBool("s")
    }
  }

  @Test func arrayFromBoxedValues() throws {
    let a = try GGUFArray(elementType: .int16, values: [.int16(1), .int16(-2)])
    #expect(a.elements == .int16([1, -2]))
    #expect(throws: GGUFError.arrayElementType(index: 1, expected: "int16", actual: "int32")) {
      try GGUFArray(elementType: .int16, values: [.int16(1), .int32(2)])
    }
    #expect(throws: GGUFError.self) { try GGUFArray(elementType: .array, values: []) }
  }

  @Test func metadataSetKeepsOrder() {
    var m = GGUFMetadata()
    m.set("a", .uint8(1))
    m.set("b", .uint8(2))
    m.set("a", .uint8(3))
    m.remove("zzz")
    #expect(m.keys == ["a", "b"] && m["a"] == .uint8(3))
    m.remove("a")
    #expect(m.keys == ["b"] && m["b"] == .uint8(2) && m["a"] == nil)
  }

  /// A Gemma-sized vocabulary (262,144 strings) parses as one typed array.
  @Test func largeStringArray() throws {
    let tokens = (0..<262_144).map { "tok\($0)▁" }
    var w = GGUFWriter()
    w.set("tokenizer.ggml.tokens", .array(GGUFArray(.string(tokens))))
    let path = temporaryPath()
    defer { try? FileManager.default.removeItem(atPath: path) }
    try w.write(to: path)
    let clock = ContinuousClock()
    let start = clock.now
    let f = try GGUFFile(path: path)
    let elapsed = clock.now - start
    print("parsed 262144-token vocabulary in \(elapsed)")
    #expect(try f.metadata.stringArray("tokenizer.ggml.tokens") == tokens)
  }

  /// Parsing reads only the header: a 4 GiB sparse file with one tensor opens without touching data.
  @Test func parsingDoesNotReadTensorData() throws {
    var b = Bytes()
    b.header(tensors: 1, kv: 0)
    b.tensorInfo("big", type: 0, dims: [1 << 30], offset: 0)
    b.pad(32)
    let path = temporaryPath()
    defer { try? FileManager.default.removeItem(atPath: path) }
    #expect(FileManager.default.createFile(atPath: path, contents: Data(b.data)))
    let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    try h.truncate(atOffset: UInt64(b.data.count + (4 << 30)))
    try h.close()
    let f = try GGUFFile(path: path)
    let t = try #require(f.tensor(named: "big"))
    #expect(t.byteCount == 4 << 30 && t.offset == b.data.count)
    #expect(f.data(for: t).count == 4 << 30)
  }

  @Test func copiesShareTheMap() throws {
    var w = GGUFWriter()
    w.addTensor(name: "t", type: .i32, shape: [2], bytes: [1, 0, 0, 0, 2, 0, 0, 0])
    var copy: GGUFFile? = try roundTrip(w)
    let kept = copy!
    copy = nil
    let t = try #require(kept.tensor(named: "t"))
    #expect(kept.withData(for: t) { Array($0.bindMemory(to: Int32.self)) } == [1, 2])
    // A tensor info from elsewhere gets an empty view, not a trap.
    let foreign = GGUFTensorInfo(name: "x", type: .f32, shape: [1 << 20], offset: 1 << 40, byteCount: 4 << 20)
    #expect(kept.data(for: foreign).isEmpty)
  }

  @Test func missingFileIsTypedError() {
    #expect(throws: GGUFError.io(path: "/nonexistent/x.gguf", operation: "open", errno: ENOENT)) {
      try GGUFFile(path: "/nonexistent/x.gguf")
    }
  }
}
