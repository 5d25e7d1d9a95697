// A small seed corpus: valid files of every container, written with GGUFWriter (GGUF) or by hand
// (legacy formats, which Quanta only reads).
import GGUF

#if canImport(Glibc)
  import Glibc
#endif

func writeSeeds(to dir: String) throws {
  mkdir(dir, 0o755)
  func gguf(_ name: String, version: UInt32 = 3, alignment: Int = 32, _ build: (inout GGUFWriter) -> Void)
    throws
  {
    var w = GGUFWriter(alignment: alignment)
    w.version = version
    build(&w)
    try w.write(to: "\(dir)/\(name)")
  }
  try gguf("empty-v3.gguf") { _ in }
  try gguf("empty-v1.gguf", version: 1) { _ in }
  for version: UInt32 in [1, 2, 3] {
    try gguf("model-v\(version).gguf", version: version) { w in
      w.set("general.architecture", .string("llama"))
      w.set("llama.block_count", .uint32(1))
      w.set("llama.embedding_length", .uint32(32))
      w.set("llama.attention.head_count", .uint32(4))
      w.set("llama.attention.head_count_kv", .uint32(2))
      w.set("tokenizer.ggml.tokens", .array(GGUFArray(.string(["<s>", "a", "▁b", ""]))))
      w.set("tokenizer.ggml.scores", .array(GGUFArray(.float32([0, -1, -2, -3]))))
      w.set("tokenizer.ggml.token_type", .array(GGUFArray(.int32([3, 1, 1, 1]))))
      w.set("tokenizer.ggml.bos_token_id", .uint32(0))
      w.addTensor(
        name: "token_embd.weight", type: .q8_0, shape: [32, 4], bytes: [UInt8](repeating: 1, count: 136))
      w.addTensor(
        name: "blk.0.attn_norm.weight", type: .f32, shape: [32], bytes: [UInt8](repeating: 2, count: 128))
      w.addTensor(
        name: "blk.0.ffn_up.weight", type: .q4_K, shape: [256, 1], bytes: [UInt8](repeating: 3, count: 144))
    }
  }
  try gguf("values-align1.gguf", alignment: 1) { w in
    w.set("u8", .uint8(1)); w.set("i8", .int8(-1)); w.set("u16", .uint16(2)); w.set("i16", .int16(-2))
    w.set("u32", .uint32(3)); w.set("i32", .int32(-3)); w.set("f32", .float32(0.5)); w.set("b", .bool(true))
    w.set("s", .string("s")); w.set("u64", .uint64(4)); w.set("i64", .int64(-4)); w.set("f64", .float64(0.25))
    w.set("au8", .array(GGUFArray(.uint8([1, 2])))); w.set("ai16", .array(GGUFArray(.int16([-1]))))
    w.set("ab", .array(GGUFArray(.bool([true, false]))));
    w.set(
      "au64", .array(GGUFArray(.uint64([])))
    )
    w.set("af64", .array(GGUFArray(.float64([1])))); w.set("as", .array(GGUFArray(.string(["", "x"]))))
    w.addTensor(name: "zero", type: .f16, shape: [0], bytes: [])
    w.addTensor(name: "t", type: .i8, shape: [3, 1, 1, 1], bytes: [1, 2, 3])
  }

  // Legacy: hparams n_vocab, n_embd, n_mult, n_head, n_layer, n_rot, ftype; vocab; tensors.
  func legacy(_ name: String, magic: UInt32, version: UInt32?, scores: Bool, align: Bool, type: UInt32) throws
  {
    var b: [UInt8] = []
    func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
    u32(magic)
    if let version { u32(version) }
    for h: UInt32 in [3, 32, 256, 4, 1, 8, 1] { u32(h) }
    for (i, tok) in [" a", "\n", "bc"].enumerated() {
      u32(UInt32(tok.utf8.count))
      b += Array(tok.utf8)
      if scores { u32(Float(-i).bitPattern) }
    }
    for (tname, dims) in [
      ("tok_embeddings.weight", [UInt32(32), 3]), ("layers.0.attention.wq.weight", [32, 32]),
    ] {
      u32(UInt32(dims.count))
      u32(UInt32(tname.utf8.count))
      u32(type)
      for d in dims { u32(d) }
      b += Array(tname.utf8)
      if align { while b.count % 32 != 0 { b.append(0) } }
      let elements = Int(dims.reduce(1, *))
      let bytes = type == 1 ? elements * 2 : type == 0 ? elements * 4 : elements / 32 * 18
      b += [UInt8](repeating: 0x11, count: bytes)
    }
    guard let f = fopen("\(dir)/\(name)", "wb") else {
      throw GGUFError.io(path: name, operation: "fopen", errno: errno)
    }
    defer { fclose(f) }
    guard fwrite(b, 1, b.count, f) == b.count else {
      throw GGUFError.io(path: name, operation: "fwrite", errno: errno)
    }
  }
  try legacy("ggml.bin", magic: 0x6767_6d6c, version: nil, scores: false, align: false, type: 1)
  try legacy("ggmf.bin", magic: 0x6767_6d66, version: 1, scores: true, align: false, type: 0)
  try legacy("ggjt-v1.bin", magic: 0x6767_6a74, version: 1, scores: true, align: true, type: 1)
  try legacy("ggjt-v3.bin", magic: 0x6767_6a74, version: 3, scores: true, align: true, type: 2)

  // A seed that does not parse would only waste fuzzing time: check them all.
  for name in [
    "empty-v3.gguf", "empty-v1.gguf", "model-v1.gguf", "model-v2.gguf", "model-v3.gguf",
    "values-align1.gguf", "ggml.bin", "ggmf.bin", "ggjt-v1.bin", "ggjt-v3.bin",
  ] {
    let f = try GGUFFile(path: "\(dir)/\(name)")
    if name.hasPrefix("model") || name.hasPrefix("gg") { try f.validateModelMetadata() }
  }
}
