/// Legacy llama.cpp containers, read into the same `GGUFFile` shape as GGUF:
///
///     magic u32 ('ggml' | 'ggmf' | 'ggjt'), version u32 (not for 'ggml')
///     hparams: n_vocab, n_embd, n_mult, n_head, n_layer, n_rot, ftype (u32 each; llama layout)
///     vocab × n_vocab: len u32, bytes, score f32 (GGMF/GGJT only)
///     tensors until EOF: n_dims u32, name_len u32, type u32, ne[n_dims] u32, name,
///                        padding to 32 (GGJT only), data
///
/// The hyperparameters, vocabulary and tensor names are exposed the way llama.cpp's
/// `convert-llama-ggml-to-gguf.py` maps them (`llama.*` keys, `tokenizer.ggml.*`, `blk.N.*`).
struct LegacyParser {
  static let ggjtAlignment = 32

  var r: ByteReader
  init(_ buf: UnsafeRawBufferPointer) { r = ByteReader(buf) }

  struct HParams {
    var nVocab: UInt32, nEmbd: UInt32, nMult: UInt32, nHead: UInt32, nLayer: UInt32, nRot: UInt32
    var ftype: UInt32
  }

  mutating func parse() throws(GGUFError) -> ParsedFile {
    let magic = try r.u32("magic")
    let format: GGUFFormat
    switch magic {
    case Magic.ggml:
      format = .ggml
    case Magic.ggmf:
      let v = try r.u32("GGMF version")
      guard v == 1 else { throw .unsupportedVersion(format: "GGMF", version: v) }
      format = .ggmf(version: v)
    case Magic.ggjt:
      let v = try r.u32("GGJT version")
      guard (1...3).contains(v) else {
        if v != 0 && v & 0xFFFF == 0 { throw .byteSwapped(format: "GGJT", version: v) }
        throw .unsupportedVersion(format: "GGJT", version: v)
      }
      format = .ggjt(version: v)
    default:
      throw .badMagic(found: magic)
    }
    let hasScores = format != .ggml
    var aligned = false
    if case .ggjt = format { aligned = true }

    let hp = HParams(
      nVocab: try r.u32("n_vocab"), nEmbd: try r.u32("n_embd"), nMult: try r.u32("n_mult"),
      nHead: try r.u32("n_head"), nLayer: try r.u32("n_layer"), nRot: try r.u32("n_rot"),
      ftype: try r.u32("ftype"))

    // Vocabulary: each entry is at least a length (and a score), checked before reserving.
    let vocabOffset = r.position
    let minEntry = hasScores ? 8 : 4
    guard UInt64(hp.nVocab) <= UInt64(r.remaining / minEntry) else {
      throw .countTooLarge(
        what: "n_vocab", count: UInt64(hp.nVocab), offset: vocabOffset, bytesLeft: r.remaining)
    }
    let nVocab = Int(hp.nVocab)
    var tokens: [String] = []
    var scores: [Float] = []
    var types: [Int32] = []
    tokens.reserveCapacity(nVocab)
    scores.reserveCapacity(nVocab)
    types.reserveCapacity(nVocab)
    for id in 0..<nVocab {
      let at = r.position
      let length = try r.u32("token \(id) length")
      guard length <= UInt32(clamping: r.remaining) else {
        throw .stringTooLong(offset: at, length: UInt64(length), bytesLeft: r.remaining)
      }
      let raw = try r.bytes(Int(length), "token \(id)")
      let score = hasScores ? Float(bitPattern: try r.u32("token \(id) score")) : 0
      let (token, type) = try Self.convertToken(id: id, raw, offset: at + 4)
      tokens.append(token)
      scores.append(score)
      types.append(type)
    }

    var tensors: [GGUFTensorInfo] = []
    var names = Set<String>()
    var dataOffset: Int? = nil
    while r.remaining > 0 {
      let infoOffset = r.position
      let nDims = try r.u32("tensor n_dims")
      let nameLength = try r.u32("tensor name length")
      let typeOffset = r.position
      let rawType = try r.u32("tensor type")
      guard nDims <= GGUFParser.maxDims else {
        throw .tooManyDimensions(tensor: "#\(tensors.count)", nDims: nDims, offset: infoOffset)
      }
      var shape: [Int] = []
      for d in 0..<Int(nDims) { shape.append(Int(try r.u32("tensor dimension \(d)"))) }
      let nameOffset = r.position
      guard nameLength <= UInt32(clamping: r.remaining) else {
        throw .stringTooLong(offset: nameOffset, length: UInt64(nameLength), bytesLeft: r.remaining)
      }
      if nameLength == 0 { throw .emptyTensorName(index: tensors.count, offset: infoOffset) }
      let name = try r.string(length: UInt64(nameLength), "tensor name")
      if nameLength > GGUFParser.maxNameBytes {
        throw .tensorNameTooLong(name: name, length: Int(nameLength), offset: nameOffset)
      }
      let type = try Self.checkType(rawType, tensor: name, format: format, offset: typeOffset)
      let byteCount = try GGUFParser.byteCount(name: name, type: type, shape: shape)
      if aligned { try r.align(to: Self.ggjtAlignment, "padding before '\(name)' data") }
      let offset = r.position
      guard byteCount <= r.remaining else {
        throw .tensorPastEnd(
          tensor: name, offset: UInt64(offset), byteCount: byteCount, fileSize: r.base.count)
      }
      r.position += byteCount
      let mapped = Self.ggufName(name)
      guard names.insert(mapped).inserted else { throw .duplicateTensor(name: name, offset: nameOffset) }
      tensors.append(
        GGUFTensorInfo(name: mapped, type: type, shape: shape, offset: offset, byteCount: byteCount))
      if dataOffset == nil { dataOffset = offset }
    }

    let metadata = Self.metadata(hp, tokens: tokens, scores: scores, types: types, tensors: tensors)
    return ParsedFile(
      format: format, alignment: aligned ? Self.ggjtAlignment : 1,
      dataOffset: dataOffset ?? r.position, metadata: metadata, tensors: tensors)
  }

  /// Legacy quantized layouts that changed since are refused by name, never misread.
  static func checkType(
    _ raw: UInt32, tensor: String, format: GGUFFormat, offset: Int
  ) throws(GGUFError) -> GGMLType {
    if raw == 4 || raw == 5 {
      throw .unsupportedLegacyType(
        tensor: tensor, type: raw == 4 ? "q4_2" : "q4_3", format: format.description,
        reason: "type removed from ggml (llama.cpp PR #1305)")
    }
    guard let type = GGMLType(rawValue: raw) else {
      throw .unknownTensorType(tensor: tensor, rawType: raw, offset: offset)
    }
    let version: UInt32
    switch format {
    case .ggjt(let v): version = v
    default: version = 0  // GGML and GGMF predate GGJT v1
    }
    if version < 2, [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0].contains(type) {
      throw .unsupportedLegacyType(
        tensor: tensor, type: type.name, format: format.description,
        reason: "quantization bit layout changed in GGJT v2 (llama.cpp PR #1405); re-quantize")
    }
    if version == 2, [.q4_0, .q4_1, .q8_0].contains(type) {
      throw .unsupportedLegacyType(
        tensor: tensor, type: type.name, format: format.description,
        reason: "block scale changed to f16 in GGJT v3 (llama.cpp PR #1508); re-quantize")
    }
    return type
  }

  /// SentencePiece pieces as GGUF stores them: spaces as U+2581, byte tokens (ids 3...258, one
  /// byte) as `<0xXX>`; returns the GGUF token type (1 normal, 3 control, 6 byte).
  static func convertToken(id: Int, _ raw: UnsafeRawBufferPointer, offset: Int) throws(GGUFError)
    -> (String, Int32)
  {
    if raw.isEmpty { return ("", 3) }
    if (3...258).contains(id) && raw.count == 1 {
      let hex = String(raw[0], radix: 16, uppercase: true)
      return ("<0x\(hex.count == 1 ? "0" + hex : hex)>", 6)
    }
    guard let s = String(validating: raw.bindMemory(to: UInt8.self), as: UTF8.self) else {
      throw .invalidUTF8(offset: offset, context: "token \(id)")
    }
    return (s.replacingSpaces(), 1)
  }

  /// Old llama tensor names → GGUF names (as llama.cpp's converter maps them); others unchanged.
  static func ggufName(_ name: String) -> String {
    let fixed: [String: String] = [
      "tok_embeddings.weight": "token_embd.weight", "norm.weight": "output_norm.weight",
      "output.weight": "output.weight",
    ]
    if let n = fixed[name] { return n }
    let parts = name.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
    guard parts.count == 3, parts[0] == "layers", let layer = Int(parts[1]), layer >= 0 else {
      return name
    }
    let perLayer: [String: String] = [
      "attention.wq.weight": "attn_q.weight", "attention.wk.weight": "attn_k.weight",
      "attention.wv.weight": "attn_v.weight", "attention.wo.weight": "attn_output.weight",
      "attention_norm.weight": "attn_norm.weight", "ffn_norm.weight": "ffn_norm.weight",
      "feed_forward.w1.weight": "ffn_gate.weight", "feed_forward.w2.weight": "ffn_down.weight",
      "feed_forward.w3.weight": "ffn_up.weight",
    ]
    guard let suffix = perLayer[String(parts[2])] else { return name }
    return "blk.\(layer).\(suffix)"
  }

  static func metadata(
    _ hp: HParams, tokens: [String], scores: [Float], types: [Int32], tensors: [GGUFTensorInfo]
  ) -> GGUFMetadata {
    var m = GGUFMetadata()
    m.appendNew("general.architecture", .string("llama"))
    m.appendNew("general.file_type", .uint32(hp.ftype))
    // Legacy files do not record the context length; llama.cpp's converter assumes 2048.
    m.appendNew("llama.context_length", .uint32(2048))
    m.appendNew("llama.embedding_length", .uint32(hp.nEmbd))
    m.appendNew("llama.block_count", .uint32(hp.nLayer))
    m.appendNew("llama.feed_forward_length", .uint32(feedForwardLength(hp, tensors)))
    m.appendNew("llama.rope.dimension_count", .uint32(hp.nRot))
    m.appendNew("llama.attention.head_count", .uint32(hp.nHead))
    m.appendNew("llama.attention.head_count_kv", .uint32(hp.nHead))
    m.appendNew("tokenizer.ggml.model", .string("llama"))
    m.appendNew("tokenizer.ggml.tokens", .array(GGUFArray(.string(tokens))))
    m.appendNew("tokenizer.ggml.scores", .array(GGUFArray(.float32(scores))))
    m.appendNew("tokenizer.ggml.token_type", .array(GGUFArray(.int32(types))))
    // LLaMA's SentencePiece ids, as the converter sets them.
    if tokens.count > 2 {
      m.appendNew("tokenizer.ggml.unknown_token_id", .uint32(0))
      m.appendNew("tokenizer.ggml.bos_token_id", .uint32(1))
      m.appendNew("tokenizer.ggml.eos_token_id", .uint32(2))
    }
    return m
  }

  /// n_ff from the first gate weight's shape when present, else llama.cpp's n_mult formula.
  static func feedForwardLength(_ hp: HParams, _ tensors: [GGUFTensorInfo]) -> UInt32 {
    if let t = tensors.first(where: { $0.name == "blk.0.ffn_gate.weight" }), t.shape.count == 2,
      let nff = UInt32(exactly: t.shape[1])
    {
      return nff
    }
    let nEmbd = UInt64(hp.nEmbd)
    let nMult = UInt64(max(hp.nMult, 1))
    let nff = ((2 * (4 * nEmbd) / 3 + nMult - 1) / nMult) * nMult
    return UInt32(clamping: nff)
  }
}

extension String {
  /// SentencePiece marks word starts with U+2581 where the legacy vocab stored a space.
  fileprivate func replacingSpaces() -> String {
    guard utf8.contains(0x20) else { return self }
    return String(map { $0 == " " ? "\u{2581}" : $0 })
  }
}
