import GGUF
import Testing

/// Legacy llama.cpp files (GGML, GGMF v1, GGJT v1–v3), assembled by hand; RELIABILITY.md A15.
@Suite struct GGUFLegacyTests {
  enum Kind { case ggml, ggmf(UInt32), ggjt(UInt32) }

  struct Tensor {
    var name: String
    var type: UInt32
    var dims: [UInt32]
    var data: [UInt8]
  }

  /// hparams: n_vocab, n_embd, n_mult, n_head, n_layer, n_rot, ftype.
  static func file(
    _ kind: Kind, hparams: [UInt32]? = nil, vocab: [([UInt8], Float)], tensors: [Tensor]
  ) -> [UInt8] {
    var b = Bytes()
    var scores = true
    var align = false
    switch kind {
    case .ggml:
      b.u32(0x6767_6d6c)
      scores = false
    case .ggmf(let v):
      b.u32(0x6767_6d66)
      b.u32(v)
    case .ggjt(let v):
      b.u32(0x6767_6a74)
      b.u32(v)
      align = true
    }
    for h in hparams ?? [UInt32(vocab.count), 8, 256, 2, 1, 4, 1] { b.u32(h) }
    for (token, score) in vocab {
      b.u32(UInt32(token.count))
      b.raw(token)
      if scores { b.f32(score) }
    }
    for t in tensors {
      b.u32(UInt32(t.dims.count))
      b.u32(UInt32(t.name.utf8.count))
      b.u32(t.type)
      for d in t.dims { b.u32(d) }
      b.raw(Array(t.name.utf8))
      if align { b.pad(32) }
      b.raw(t.data)
    }
    return b.data
  }

  static let vocab: [([UInt8], Float)] = [
    (Array(" \u{2047} ".utf8), 0), (Array("<s>".utf8), 0), (Array("</s>".utf8), 0),
    ([0x0A], 0), ([0x80], 0),  // byte tokens (ids 3...258), one not valid UTF-8 alone
    (Array(" the".utf8), -1.5),
  ]

  static let tensors: [Tensor] = [
    Tensor(name: "tok_embeddings.weight", type: 0, dims: [8, 6], data: [UInt8](repeating: 1, count: 192)),
    Tensor(
      name: "layers.0.attention.wq.weight", type: 1, dims: [8, 8], data: [UInt8](repeating: 2, count: 128)),
    Tensor(
      name: "layers.0.feed_forward.w1.weight", type: 0, dims: [8, 24], data: [UInt8](repeating: 3, count: 768)
    ),
    Tensor(name: "custom.bias", type: 0, dims: [3], data: [UInt8](repeating: 4, count: 12)),
  ]

  @Test func ggjtV3() throws {
    let bytes = Self.file(.ggjt(3), vocab: Self.vocab, tensors: Self.tensors)
    let f = try GGUFFile(bytes: bytes)
    #expect(f.format == .ggjt(version: 3) && f.version == 3 && f.alignment == 32)
    let m = f.metadata
    #expect(try m.string("general.architecture") == "llama")
    #expect(try m.uint32("llama.embedding_length") == 8)
    #expect(try m.uint32("llama.block_count") == 1)
    #expect(try m.uint32("llama.attention.head_count") == 2)
    #expect(try m.uint32("llama.attention.head_count_kv") == 2)
    #expect(try m.uint32("llama.rope.dimension_count") == 4)
    #expect(try m.uint32("llama.feed_forward_length") == 24)  // from the w1 shape
    #expect(try m.uint32("general.file_type") == 1)
    #expect(
      try m.stringArray("tokenizer.ggml.tokens") == ["▁\u{2047}▁", "<s>", "</s>", "<0x0A>", "<0x80>", "▁the"])
    #expect(try m.floatArray("tokenizer.ggml.scores") == [0, 0, 0, 0, 0, -1.5])
    #expect(try m.int32Array("tokenizer.ggml.token_type") == [1, 1, 1, 6, 6, 1])
    #expect(
      f.tensors.map(\.name) == [
        "token_embd.weight", "blk.0.attn_q.weight", "blk.0.ffn_gate.weight", "custom.bias",
      ])
    for (t, src) in zip(f.tensors, Self.tensors) {
      #expect(t.offset % 32 == 0)
      #expect(t.shape == src.dims.map { Int($0) })
      #expect(Array(f.data(for: t)) == src.data)
    }
    #expect(f.dataOffset == f.tensors[0].offset)
    try f.validateModelMetadata()
  }

  @Test func unversionedGGMLAndGGMF() throws {
    let g = try GGUFFile(bytes: Self.file(.ggml, vocab: Self.vocab, tensors: Self.tensors))
    #expect(g.format == .ggml && g.alignment == 1)
    #expect(try g.metadata.floatArray("tokenizer.ggml.scores") == [Float](repeating: 0, count: 6))
    // No padding: the first tensor's data follow its name directly.
    let header = 4 + 7 * 4 + Self.vocab.reduce(0) { $0 + 4 + $1.0.count }
    #expect(g.tensors[0].offset == header + 12 + 8 + "tok_embeddings.weight".utf8.count)
    for (t, src) in zip(g.tensors, Self.tensors) { #expect(Array(g.data(for: t)) == src.data) }

    let m = try GGUFFile(bytes: Self.file(.ggmf(1), vocab: Self.vocab, tensors: Self.tensors))
    #expect(m.format == .ggmf(version: 1) && m.tensors.count == 4)
    #expect(try m.metadata.floatArray("tokenizer.ggml.scores").last == -1.5)
  }

  @Test func feedForwardFromNMultWithoutTheTensor() throws {
    // n_embd 4096, n_mult 256 → LLaMA-7B's 11008.
    let f = try GGUFFile(
      bytes: Self.file(.ggjt(3), hparams: [0, 4096, 256, 32, 32, 128, 0], vocab: [], tensors: []))
    #expect(try f.metadata.uint32("llama.feed_forward_length") == 11008)
    #expect(f.tensors.isEmpty)
  }

  @Test func changedQuantLayoutsRejectedByName() throws {
    let q4 = Tensor(
      name: "layers.0.attention.wk.weight", type: 2, dims: [32], data: [UInt8](repeating: 0, count: 18))
    let q8 = Tensor(name: "x", type: 8, dims: [32], data: [UInt8](repeating: 0, count: 34))
    let q5 = Tensor(name: "y", type: 6, dims: [32], data: [UInt8](repeating: 0, count: 22))
    func rejected(_ kind: Kind, _ t: Tensor, format: String, pr: String) {
      expectParseError(Self.file(kind, vocab: [], tensors: [t])) { e in
        guard case .unsupportedLegacyType(let name, let type, let f, let reason) = e else { return false }
        return name == t.name && type == GGMLType(rawValue: t.type)!.name && f == format
          && reason.contains(pr)
      }
    }
    rejected(.ggjt(1), q4, format: "GGJT v1", pr: "#1405")
    rejected(.ggjt(1), q5, format: "GGJT v1", pr: "#1405")
    rejected(.ggml, q8, format: "GGML (unversioned)", pr: "#1405")
    rejected(.ggmf(1), q4, format: "GGMF v1", pr: "#1405")
    rejected(.ggjt(2), q4, format: "GGJT v2", pr: "#1508")
    rejected(.ggjt(2), q8, format: "GGJT v2", pr: "#1508")
    // Layouts unchanged since: q5_0 in GGJT v2, everything in v3.
    #expect(try GGUFFile(bytes: Self.file(.ggjt(2), vocab: [], tensors: [q5])).tensors.count == 1)
    #expect(try GGUFFile(bytes: Self.file(.ggjt(3), vocab: [], tensors: [q4, q8, q5])).tensors.count == 3)
    // Removed types (q4_2, q4_3) by name.
    for raw: UInt32 in [4, 5] {
      let t = Tensor(name: "z", type: raw, dims: [32], data: [UInt8](repeating: 0, count: 20))
      expectParseError(Self.file(.ggjt(3), vocab: [], tensors: [t])) { e in
        if case .unsupportedLegacyType("z", raw == 4 ? "q4_2" : "q4_3", "GGJT v3", _) = e { return true }
        return false
      }
    }
  }

  /// A whole GGJT/GGMF/GGML file written big-endian: its magic reads byte-swapped ("tjgg"), and
  /// the error names the legacy format, not GGUF.
  @Test func bigEndianLegacyFiles() {
    for (magic, format, version) in [
      ("ggjt", "GGJT", UInt32?(0x0300_0000)), ("ggmf", "GGMF", 0x0100_0000), ("ggml", "GGML", nil),
    ] {
      var b = Bytes()
      b.raw(Array(magic.utf8))  // the u32 magic written big-endian: its bytes in reading order
      b.raw([0, 0, 0, format == "GGMF" ? 1 : 3])
      b.raw([UInt8](repeating: 0, count: 28))
      expectParseError(b.data, .byteSwapped(format: format, version: version))
      #expect(
        GGUFError.byteSwapped(format: format, version: version).description.contains(
          "big-endian \(format) files"))
    }
  }

  @Test func badLegacyFiles() {
    expectParseError(
      Self.file(.ggmf(2), vocab: [], tensors: []), .unsupportedVersion(format: "GGMF", version: 2))
    expectParseError(
      Self.file(.ggjt(4), vocab: [], tensors: []), .unsupportedVersion(format: "GGJT", version: 4))
    expectParseError(
      Self.file(.ggjt(0x0300_0000), vocab: [], tensors: []),
      .byteSwapped(format: "GGJT", version: 0x0300_0000))
    // n_vocab larger than the file could hold.
    expectParseError(
      Self.file(.ggjt(3), hparams: [UInt32.max, 8, 256, 2, 1, 4, 1], vocab: [], tensors: []),
      .countTooLarge(what: "n_vocab", count: UInt64(UInt32.max), offset: 36, bytesLeft: 0))
    // Token length past the end.
    var b = Bytes()
    b.u32(0x6767_6a74)
    b.u32(3)
    for h: UInt32 in [1, 8, 256, 2, 1, 4, 1] { b.u32(h) }
    b.u32(0xFFFF_FFF0)
    b.raw([0x61, 0, 0, 0, 0])
    expectParseError(b.data, .stringTooLong(offset: 36, length: 0xFFFF_FFF0, bytesLeft: 5))
    // Token not UTF-8 (and not a single byte token).
    expectParseError(
      Self.file(.ggjt(3), vocab: [([0xC3, 0x28], 0)], tensors: []),
      .invalidUTF8(offset: 40, context: "token 0"))
    // Tensor: too many dims, empty name, long name, huge name length, duplicate, data past end.
    let t = Tensor(name: "t", type: 0, dims: [1], data: [0, 0, 0, 0])
    var five = t
    five.dims = [1, 1, 1, 1, 1]
    expectParseError(
      Self.file(.ggml, vocab: [], tensors: [five]), .tooManyDimensions(tensor: "#0", nDims: 5, offset: 32))
    var empty = t
    empty.name = ""
    expectParseError(Self.file(.ggml, vocab: [], tensors: [empty]), .emptyTensorName(index: 0, offset: 32))
    var long = t
    long.name = String(repeating: "n", count: 64)
    expectParseError(
      Self.file(.ggml, vocab: [], tensors: [long]),
      .tensorNameTooLong(name: long.name, length: 64, offset: 48))
    var n = Bytes()
    n.u32(0x6767_6d6c)
    for h: UInt32 in [0, 8, 256, 2, 1, 4, 1] { n.u32(h) }
    n.u32(1)
    n.u32(UInt32.max)  // name length
    n.u32(0)
    n.u32(1)
    expectParseError(n.data, .stringTooLong(offset: 48, length: UInt64(UInt32.max), bytesLeft: 0))
    // The second name starts after the 32-byte header, 21 bytes of tensor "t" and 16 of fields.
    expectParseError(Self.file(.ggml, vocab: [], tensors: [t, t]), .duplicateTensor(name: "t", offset: 69))
    var short = t
    short.data = [0, 0]
    expectParseError(
      Self.file(.ggml, vocab: [], tensors: [short]),
      .tensorPastEnd(tensor: "t", offset: 49, byteCount: 4, fileSize: 51))
    var big = t
    big.dims = [UInt32.max, UInt32.max, UInt32.max]
    expectParseError(Self.file(.ggml, vocab: [], tensors: [big])) { e in
      if case .tensorSizeOverflow("t", _) = e { return true }
      return false
    }
  }

  /// Every prefix either fails with a typed error or (cut exactly between tensors) is a valid file
  /// holding a prefix of the tensors; none traps.
  @Test func everyCutPoint() throws {
    let full = Self.file(.ggjt(3), vocab: Self.vocab, tensors: Self.tensors)
    let names = try GGUFFile(bytes: full).tensors.map(\.name)
    for cut in 0..<full.count {
      do {
        let f = try GGUFFile(bytes: Array(full[0..<cut]))
        #expect(Array(names.prefix(f.tensors.count)) == f.tensors.map(\.name), "cut \(cut)")
      } catch {
        switch error {
        case .truncated, .stringTooLong, .countTooLarge, .tensorPastEnd: break
        default: Issue.record("cut \(cut): unexpected \(error)")
        }
      }
    }
  }
}
