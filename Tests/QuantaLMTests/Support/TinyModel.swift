import Foundation
import GGML
import GGUF

/// A tiny model of one architecture with random weights, written by the tests as a real GGUF
/// (GGUFWriter, reference quantizers), so the forward pass can be held against `TinyReference`.
struct TinySpec: Sendable, CustomStringConvertible {
  enum Arch: String, Sendable, CaseIterable { case llama, qwen2, qwen3, gemma3, phi3, gemma2, qwen3moe }
  var arch: Arch
  var layers: Int
  var d: Int
  var heads: Int
  var kvHeads: Int
  var headDim: Int
  var ff: Int
  var vocab = 320
  var context = 64
  var eps: Float = 1e-6
  var ropeBase: Float = 10_000
  /// gemma3, gemma2, phi3.
  var slidingWindow = 0
  /// gemma2's `attn_logit_softcapping` / `final_logit_softcapping` (0: not written).
  var attentionSoftcap: Float = 0
  var finalSoftcap: Float = 0
  /// phi3: Q/K/V in one `attn_qkv`, gate and up in one `ffn_up` of 2·ff rows.
  var fused = false
  /// phi3 only: LongRoPE's `rope_factors_long`/`_short`, `rope.scaling.original_context_length`
  /// and `rope.scaling.attn_factor`.
  var longRope: (originalContext: Int, attnFactor: Float)? = nil
  /// llama only: write `rope_freqs.weight` (Llama 3 frequency factors).
  var ropeFactors = false
  /// Write `output.weight` (else tied to the embedding).
  var separateOutput = false
  var biases = false
  var qkNorm = false
  var postNorms = false
  var types: (attention: GGMLType, value: GGMLType, ffn: GGMLType, down: GGMLType, embedding: GGMLType) =
    (.q8_0, .q8_0, .q8_0, .q8_0, .f16)
  /// Mixture of experts (0: dense): experts per layer, per token, and an expert's FFN width
  /// (`ffn_gate_inp` and `ffn_*_exps` instead of the dense FFN; qwen3moe writes
  /// `expert_feed_forward_length`, a llama file with experts is Mixtral-style).
  var experts = 0
  var expertsUsed = 0
  var expertFF = 0
  /// Scale of the router's uniform weights (spread logits: decisive routing).
  var routerScale: Float = 4
  /// `tokenizer.chat_template`, when set.
  var chatTemplate: String? = nil

  var description: String { arch.rawValue }

  /// The test models: llama with GQA + Llama 3 RoPE factors + a separate head; qwen2 with
  /// biases and one KV head; qwen3 with QK-norm and head_dim ≠ d / heads; gemma3 with a sliding
  /// window (4) shorter than the sequence, over 6 layers (5 local, 1 global); phi3 with fused
  /// projections, GQA, LongRoPE factors and a window (6) on every layer; gemma2 with soft-capped
  /// scores (4) and logits (2.5) and a window (4) on its even layers.
  static func make(_ arch: Arch) -> TinySpec {
    switch arch {
    case .llama:
      var s = TinySpec(arch: arch, layers: 2, d: 256, heads: 4, kvHeads: 2, headDim: 64, ff: 512)
      s.ropeFactors = true
      s.separateOutput = true
      s.ropeBase = 500_000
      s.types = (.q8_0, .q4_K, .q4_K, .q6_K, .q4_K)
      return s
    case .qwen2:
      var s = TinySpec(arch: arch, layers: 2, d: 128, heads: 4, kvHeads: 1, headDim: 32, ff: 256)
      s.biases = true
      s.ropeBase = 1_000_000
      s.types = (.q8_0, .q8_0, .q4_0, .q8_0, .q8_0)
      return s
    case .qwen3:
      var s = TinySpec(arch: arch, layers: 2, d: 128, heads: 4, kvHeads: 2, headDim: 64, ff: 256)
      s.qkNorm = true
      s.separateOutput = true
      s.types = (.q8_0, .q8_0, .q8_0, .q8_0, .f16)
      return s
    case .gemma3:
      var s = TinySpec(arch: arch, layers: 6, d: 128, heads: 4, kvHeads: 1, headDim: 64, ff: 256)
      s.qkNorm = true
      s.postNorms = true
      s.slidingWindow = 4
      s.ropeBase = 1_000_000
      s.types = (.q8_0, .q8_0, .q8_0, .q8_0, .q8_0)
      return s
    case .phi3:
      var s = TinySpec(arch: arch, layers: 2, d: 128, heads: 4, kvHeads: 2, headDim: 32, ff: 256)
      s.fused = true
      s.separateOutput = true
      s.slidingWindow = 6
      // The sessions of the tests hold 32 tokens: more than 16, so the long factors apply.
      s.longRope = (originalContext: 16, attnFactor: 1.19)
      s.types = (.q8_0, .q8_0, .q4_0, .q8_0, .q8_0)
      return s
    case .qwen3moe:
      var s = TinySpec(arch: arch, layers: 2, d: 128, heads: 4, kvHeads: 2, headDim: 64, ff: 384)
      s.qkNorm = true
      s.separateOutput = true
      s.ropeBase = 1_000_000
      (s.experts, s.expertsUsed, s.expertFF) = (8, 3, 96)
      s.types = (.q8_0, .q8_0, .q4_0, .q8_0, .q8_0)
      return s
    case .gemma2:
      var s = TinySpec(arch: arch, layers: 4, d: 128, heads: 4, kvHeads: 2, headDim: 64, ff: 256)
      s.postNorms = true
      s.slidingWindow = 4
      s.attentionSoftcap = 4
      s.finalSoftcap = 2.5
      s.types = (.q8_0, .q8_0, .q8_0, .q8_0, .q8_0)
      return s
    }
  }
}

/// Deterministic test numbers (SplitMix64).
struct TestRNG {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
  /// Uniform in [-1, 1).
  mutating func uniform() -> Float { Float(Double(next() >> 11) / Double(1 << 53) * 2 - 1) }
  mutating func values(_ n: Int, scale: Float, offset: Float = 0) -> [Float] {
    (0..<n).map { _ in offset + scale * uniform() }
  }
}

enum TinyModel {
  /// Writes `spec` with weights from `seed` to a new temporary file and returns its path.
  static func write(_ spec: TinySpec, seed: UInt64 = 1) throws -> String {
    var rng = TestRNG(state: seed)
    var w = GGUFWriter()
    let a = spec.arch.rawValue
    w.set("general.architecture", .string(a))
    w.set("general.name", .string("tiny-\(a)"))
    w.set("\(a).block_count", .uint32(UInt32(spec.layers)))
    w.set("\(a).context_length", .uint32(UInt32(spec.context)))
    w.set("\(a).embedding_length", .uint32(UInt32(spec.d)))
    w.set("\(a).feed_forward_length", .uint32(UInt32(spec.ff)))
    w.set("\(a).attention.head_count", .uint32(UInt32(spec.heads)))
    w.set("\(a).attention.head_count_kv", .uint32(UInt32(spec.kvHeads)))
    w.set("\(a).attention.key_length", .uint32(UInt32(spec.headDim)))
    w.set("\(a).attention.value_length", .uint32(UInt32(spec.headDim)))
    w.set("\(a).attention.layer_norm_rms_epsilon", .float32(spec.eps))
    w.set("\(a).rope.freq_base", .float32(spec.ropeBase))
    if spec.experts > 0 {
      w.set("\(a).expert_count", .uint32(UInt32(spec.experts)))
      w.set("\(a).expert_used_count", .uint32(UInt32(spec.expertsUsed)))
      if spec.arch == .qwen3moe { w.set("\(a).expert_feed_forward_length", .uint32(UInt32(spec.expertFF))) }
    }
    if spec.slidingWindow > 0 { w.set("\(a).attention.sliding_window", .uint32(UInt32(spec.slidingWindow))) }
    if spec.attentionSoftcap > 0 { w.set("\(a).attn_logit_softcapping", .float32(spec.attentionSoftcap)) }
    if spec.finalSoftcap > 0 { w.set("\(a).final_logit_softcapping", .float32(spec.finalSoftcap)) }
    if let long = spec.longRope {
      w.set("\(a).rope.scaling.original_context_length", .uint32(UInt32(long.originalContext)))
      w.set("\(a).rope.scaling.attn_factor", .float32(long.attnFactor))
    }
    addVocabulary(&w, size: spec.vocab)
    if let t = spec.chatTemplate { w.set("tokenizer.chat_template", .string(t)) }

    func add(_ name: String, _ type: GGMLType, _ shape: [Int], _ values: [Float]) throws {
      // GGUF shapes are ne0 first: [row length, rows].
      let bytes = type == .f32 ? values.withUnsafeBytes { [UInt8]($0) } : try type.quantize(values)
      w.addTensor(name: name, type: type, shape: shape, bytes: bytes)
    }
    func matrix(_ name: String, _ type: GGMLType, rows: Int, cols: Int) throws {
      let scale = 1.5 / Float(cols).squareRoot()
      try add(name, type, [cols, rows], rng.values(rows * cols, scale: scale))
    }
    func norm(_ name: String, _ n: Int) throws {
      try add(name, .f32, [n], rng.values(n, scale: 0.3, offset: 1))
    }

    let (d, q, kv) = (spec.d, spec.heads * spec.headDim, spec.kvHeads * spec.headDim)
    try add("token_embd.weight", spec.types.embedding, [d, spec.vocab], rng.values(spec.vocab * d, scale: 1))
    try norm("output_norm.weight", d)
    if spec.separateOutput {
      try matrix("output.weight", d % 256 == 0 ? .q6_K : .q8_0, rows: spec.vocab, cols: d)
    }
    if spec.ropeFactors {
      // Llama 3's factors: 1 for high frequencies up to 8 for low ones.
      let half = spec.headDim / 2
      try add("rope_freqs.weight", .f32, [half], (0..<half).map { 1 + 7 * Float($0) / Float(half - 1) })
    }
    if spec.longRope != nil {
      let half = spec.headDim / 2
      try add(
        "rope_factors_long.weight", .f32, [half], (0..<half).map { 1 + 5 * Float($0) / Float(half - 1) })
      try add("rope_factors_short.weight", .f32, [half], (0..<half).map { 1 + 0.5 * Float($0) / Float(half) })
    }
    for i in 0..<spec.layers {
      let p = "blk.\(i)."
      try norm(p + "attn_norm.weight", d)
      if spec.fused {
        try matrix(p + "attn_qkv.weight", spec.types.attention, rows: q + 2 * kv, cols: d)
      } else {
        try matrix(p + "attn_q.weight", spec.types.attention, rows: q, cols: d)
        try matrix(p + "attn_k.weight", spec.types.attention, rows: kv, cols: d)
        try matrix(p + "attn_v.weight", spec.types.value, rows: kv, cols: d)
      }
      try matrix(p + "attn_output.weight", spec.types.attention, rows: d, cols: q)
      if spec.biases {
        try add(p + "attn_q.bias", .f32, [q], rng.values(q, scale: 0.5))
        try add(p + "attn_k.bias", .f32, [kv], rng.values(kv, scale: 0.5))
        try add(p + "attn_v.bias", .f32, [kv], rng.values(kv, scale: 0.5))
      }
      if spec.qkNorm {
        try norm(p + "attn_q_norm.weight", spec.headDim)
        try norm(p + "attn_k_norm.weight", spec.headDim)
      }
      if spec.postNorms {
        try norm(p + "post_attention_norm.weight", d)
        try norm(p + "post_ffw_norm.weight", d)
      }
      try norm(p + "ffn_norm.weight", d)
      if spec.experts > 0 {
        // GGUF shapes of the stacked experts: [row length, rows, experts].
        let (e, ff) = (spec.experts, spec.expertFF)
        try add(
          p + "ffn_gate_inp.weight", .f32, [d, e],
          rng.values(e * d, scale: spec.routerScale / Float(d).squareRoot()))
        let up = 1.5 / Float(d).squareRoot()
        try add(p + "ffn_gate_exps.weight", spec.types.ffn, [d, ff, e], rng.values(e * ff * d, scale: up))
        try add(
          p + "ffn_down_exps.weight", spec.types.down, [ff, d, e],
          rng.values(e * d * ff, scale: 1.5 / Float(ff).squareRoot()))
        try add(p + "ffn_up_exps.weight", spec.types.ffn, [d, ff, e], rng.values(e * ff * d, scale: up))
        continue
      }
      if spec.fused {
        try matrix(p + "ffn_up.weight", spec.types.ffn, rows: 2 * spec.ff, cols: d)
      } else {
        try matrix(p + "ffn_gate.weight", spec.types.ffn, rows: spec.ff, cols: d)
        try matrix(p + "ffn_up.weight", spec.types.ffn, rows: spec.ff, cols: d)
      }
      try matrix(p + "ffn_down.weight", spec.types.down, rows: d, cols: spec.ff)
    }
    let path = FileManager.default.temporaryDirectory
      .appendingPathComponent("quanta-tiny-\(a)-\(seed)-\(UUID().uuidString).gguf").path
    try w.write(to: path)
    return path
  }

  /// An SPM vocabulary: unknown, BOS, EOS, the 256 byte tokens, then word pieces.
  static func addVocabulary(_ w: inout GGUFWriter, size: Int) {
    var tokens = ["<unk>", "<s>", "</s>"]
    var types: [Int32] = [2, 3, 3]
    for b in 0..<256 {
      tokens.append(String(format: "<0x%02X>", b))
      types.append(6)
    }
    let letters = Array("etaoinshrdlucmfw")
    var i = 0
    while tokens.count < size {
      // "▁e", "▁t", ..., then two-letter pieces: unique, plain text.
      let piece =
        i < letters.count
        ? "▁\(letters[i])"
        : "\(letters[i % letters.count])\(letters[(i / letters.count) % letters.count])x\(i)"
      tokens.append(piece)
      types.append(1)
      i += 1
    }
    w.set("tokenizer.ggml.model", .string("llama"))
    w.set("tokenizer.ggml.tokens", .array(GGUFArray(.string(tokens))))
    w.set("tokenizer.ggml.scores", .array(GGUFArray(.float32((0..<tokens.count).map { -Float($0) }))))
    w.set("tokenizer.ggml.token_type", .array(GGUFArray(.int32(types))))
    w.set("tokenizer.ggml.bos_token_id", .uint32(1))
    w.set("tokenizer.ggml.eos_token_id", .uint32(2))
    w.set("tokenizer.ggml.unknown_token_id", .uint32(0))
    w.set("tokenizer.ggml.add_bos_token", .bool(true))
  }
}
