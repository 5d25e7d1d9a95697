/// Cross-checks of model metadata that a well-formed container can still get wrong
/// (RELIABILITY.md A14). Parsing does not run these: `quanta inspect` must show broken models.
extension GGUFFile {
  static let maxContextLength = 1 << 24  // 16M tokens: beyond any released model
  static let maxBlockCount = 4096
  static let tokenTypes: ClosedRange<Int32> = 0...6  // llama_token_type: UNDEFINED ... BYTE

  /// Throws `GGUFError.inconsistentMetadata` / `.valueOutOfRange` / `.metadataType` naming the key.
  public func validateModelMetadata() throws(GGUFError) {
    let m = metadata
    let arch = try m.optionalString("general.architecture")

    // Vocabulary arrays agree in length; special token ids point into the vocabulary.
    let tokens = try m.optionalArray("tokenizer.ggml.tokens")
    if let tokens {
      guard tokens.elementType == .string else {
        throw .metadataType(
          key: "tokenizer.ggml.tokens", expected: "array[string]",
          actual: "array[\(tokens.elementType)]")
      }
      for key in ["tokenizer.ggml.scores", "tokenizer.ggml.token_type"] {
        guard let a = try m.optionalArray(key) else { continue }
        let expected: GGUFValueType = key.hasSuffix("scores") ? .float32 : .int32
        guard a.elementType == expected else {
          throw .metadataType(key: key, expected: "array[\(expected)]", actual: "array[\(a.elementType)]")
        }
        guard a.count == tokens.count else {
          throw .inconsistentMetadata(
            key: key, reason: "\(a.count) entries for \(tokens.count) tokens")
        }
      }
    }
    // Token types are llama.cpp's `llama_token_type`: UNDEFINED 0, NORMAL 1, UNKNOWN 2, CONTROL 3,
    // USER_DEFINED 4, UNUSED 5, BYTE 6.
    if let types = try m.optionalInt32Array("tokenizer.ggml.token_type"),
      let i = types.firstIndex(where: { !Self.tokenTypes.contains($0) })
    {
      throw .valueOutOfRange(
        key: "tokenizer.ggml.token_type", value: "\(types[i]) (token \(i))",
        reason: "token types are \(Self.tokenTypes.lowerBound)...\(Self.tokenTypes.upperBound)")
    }
    for key in m.keys where key.hasPrefix("tokenizer.ggml.") && key.hasSuffix("_token_id") {
      let id = try m.int(key)
      if id < 0 {
        throw .valueOutOfRange(key: key, value: "\(id)", reason: "token ids are non-negative")
      }
      if let tokens, id >= tokens.count {
        throw .inconsistentMetadata(key: key, reason: "token id \(id) ≥ vocabulary size \(tokens.count)")
      }
    }

    guard let arch else { return }
    // `{arch}.vocab_size`, where written, is the vocabulary's size (llama.cpp: one n_vocab).
    let vocabKey = "\(arch).vocab_size"
    if let n = try m.optionalInt(vocabKey), let tokens, n != tokens.count {
      throw .inconsistentMetadata(key: vocabKey, reason: "\(n) for a vocabulary of \(tokens.count) tokens")
    }
    // RoPE divides positions by powers of the base: it must be a positive, finite number.
    for key in ["\(arch).rope.freq_base", "\(arch).rope.freq_base_swa"] {
      if let base = try m.optionalFloat(key), !(base.isFinite && base > 0) {
        throw .valueOutOfRange(key: key, value: "\(base)", reason: "must be a finite number > 0")
      }
    }
    let headKey = "\(arch).attention.head_count"
    let kvKey = "\(arch).attention.head_count_kv"
    let heads = try intList(headKey)
    let kvHeads = try intList(kvKey)
    if let heads {
      if let bad = heads.first(where: { $0 <= 0 }) {
        throw .inconsistentMetadata(key: headKey, reason: "head count \(bad) must be > 0")
      }
      if let kvHeads {
        if let bad = kvHeads.first(where: { $0 <= 0 }) {
          throw .inconsistentMetadata(key: kvKey, reason: "KV head count \(bad) must be > 0")
        }
        // Scalars apply to every layer; per-layer arrays pair up.
        let n = max(heads.count, kvHeads.count)
        if heads.count != kvHeads.count && heads.count != 1 && kvHeads.count != 1 {
          throw .inconsistentMetadata(
            key: kvKey, reason: "\(kvHeads.count) per-layer values for \(heads.count) layers")
        }
        for i in 0..<n {
          let h = heads[heads.count == 1 ? 0 : i]
          let kv = kvHeads[kvHeads.count == 1 ? 0 : i]
          guard h % kv == 0 else {
            throw .inconsistentMetadata(
              key: kvKey, reason: "head count \(h) is not a multiple of KV head count \(kv)")
          }
        }
      }
    }

    let ctxKey = "\(arch).context_length"
    if let ctx = try m.optionalInt(ctxKey), ctx <= 0 || ctx > Self.maxContextLength {
      throw .valueOutOfRange(key: ctxKey, value: "\(ctx)", reason: "expected 1...\(Self.maxContextLength)")
    }
    let blocksKey = "\(arch).block_count"
    let blocks = try m.optionalInt(blocksKey)
    if let blocks, blocks <= 0 || blocks > Self.maxBlockCount {
      throw .valueOutOfRange(key: blocksKey, value: "\(blocks)", reason: "expected 1...\(Self.maxBlockCount)")
    }

    let embdKey = "\(arch).embedding_length"
    let nEmbd = try m.optionalInt(embdKey)
    if let nEmbd, nEmbd <= 0 {
      throw .valueOutOfRange(key: embdKey, value: "\(nEmbd)", reason: "must be > 0")
    }
    if let t = tensor(named: "token_embd.weight") {
      guard t.shape.count == 2 else {
        throw .inconsistentMetadata(key: "token_embd.weight", reason: "shape \(t.shape) is not 2-D")
      }
      if let nEmbd, t.shape[0] != nEmbd {
        throw .inconsistentMetadata(
          key: "token_embd.weight", reason: "shape \(t.shape) has row length ≠ \(embdKey) \(nEmbd)")
      }
      if let tokens, t.shape[1] != tokens.count {
        throw .inconsistentMetadata(
          key: "token_embd.weight",
          reason: "shape \(t.shape) has \(t.shape[1]) rows for \(tokens.count) tokens")
      }
    }

    if let blocks {
      for t in tensors where t.name.hasPrefix("blk.") {
        let index = t.name.dropFirst(4).prefix { $0 != "." }
        guard let n = Int(index), n >= 0 else {
          throw .inconsistentMetadata(key: t.name, reason: "block index '\(index)' is not a number")
        }
        if n >= blocks {
          throw .inconsistentMetadata(key: t.name, reason: "block \(n) ≥ \(blocksKey) \(blocks)")
        }
      }
    }
  }

  /// A scalar integer or an array of integers (per-layer values), as a list.
  private func intList(_ key: String) throws(GGUFError) -> [Int]? {
    guard let v = metadata[key] else { return nil }
    if case .array(let a) = v {
      var out: [Int] = []
      out.reserveCapacity(a.count)
      for x in a.values {
        guard let i = x.integerValue else {
          throw .metadataType(key: key, expected: "integer or array[integer]", actual: v.typeDescription)
        }
        out.append(i)
      }
      return out
    }
    return [try metadata.int(key)]
  }
}
