import GGUF

/// A tokenizer vocabulary read from GGUF metadata (`tokenizer.ggml.*`), checked for consistency.
public struct Vocabulary: Sendable {
  /// `tokenizer.ggml.model`.
  public enum Model: String, Sendable {
    /// SentencePiece-style: scores, byte fallback, ▁ for spaces (Llama 2, Gemma, Mistral, TinyLlama).
    case spm = "llama"
    /// GPT-2 byte-level BPE with merges and a regex pre-tokenizer (Llama 3, Qwen, SmolLM).
    case bpe = "gpt2"
  }

  /// `tokenizer.ggml.token_type` values (llama.cpp's `llama_token_type`).
  public enum TokenType: Int32, Sendable {
    case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
  }

  public let model: Model
  /// `tokenizer.ggml.pre`: which pre-tokenizer a BPE vocabulary uses.
  public let preTokenizer: String
  /// Token texts as stored (SPM: ▁ for space; BPE: GPT-2 byte-to-unicode mapped).
  public let tokens: [String]
  public let scores: [Float]
  public let types: [TokenType]
  /// BPE merge ranks keyed by "left right".
  public let mergeRanks: [String: Int]
  public let bos: Int32?
  public let eos: Int32?
  public let eot: Int32?
  public let unknown: Int32?
  public let padding: Int32?
  public let addBOS: Bool
  public let addEOS: Bool
  public let addSpacePrefix: Bool

  public var count: Int { tokens.count }

  /// Reads the vocabulary. Every length and id is checked against the token count (RELIABILITY.md A14).
  public init(metadata m: GGUFMetadata) throws {
    let modelName = try m.string("tokenizer.ggml.model")
    guard let model = Model(rawValue: modelName) else {
      throw TokenizerError.unsupportedModel(modelName)
    }
    self.model = model
    preTokenizer = try m.optionalString("tokenizer.ggml.pre") ?? "default"
    tokens = try m.stringArray("tokenizer.ggml.tokens")
    let n = tokens.count
    guard n > 0 else { throw TokenizerError.inconsistent("tokenizer.ggml.tokens is empty") }

    if let s = try m.optionalFloatArray("tokenizer.ggml.scores") {
      guard s.count == n else {
        throw TokenizerError.inconsistent("tokenizer.ggml.scores has \(s.count) entries for \(n) tokens")
      }
      scores = s
    } else {
      scores = [Float](repeating: 0, count: n)
    }
    if let t = try m.optionalInt32Array("tokenizer.ggml.token_type") {
      guard t.count == n else {
        throw TokenizerError.inconsistent("tokenizer.ggml.token_type has \(t.count) entries for \(n) tokens")
      }
      types = t.map { TokenType(rawValue: $0) ?? .undefined }
    } else {
      types = [TokenType](repeating: .normal, count: n)
    }
    var ranks: [String: Int] = [:]
    if let merges = try m.optionalStringArray("tokenizer.ggml.merges") {
      ranks.reserveCapacity(merges.count)
      for (rank, merge) in merges.enumerated() where ranks[merge] == nil { ranks[merge] = rank }
    } else if model == .bpe {
      throw TokenizerError.inconsistent("a gpt2 tokenizer needs tokenizer.ggml.merges")
    }
    mergeRanks = ranks

    func tokenID(_ key: String) throws -> Int32? {
      guard let v = try m.optionalInt(key) else { return nil }
      // llama.cpp writes -1 (as a wrapped uint32) for "none".
      if v == -1 || v == Int(UInt32.max) { return nil }
      guard v >= 0, v < n else {
        throw TokenizerError.inconsistent("\(key) = \(v) is outside the vocabulary of \(n) tokens")
      }
      return Int32(v)
    }
    bos = try tokenID("tokenizer.ggml.bos_token_id")
    eos = try tokenID("tokenizer.ggml.eos_token_id")
    eot = try tokenID("tokenizer.ggml.eot_token_id")
    unknown = try tokenID("tokenizer.ggml.unknown_token_id")
    padding = try tokenID("tokenizer.ggml.padding_token_id")
    // llama.cpp's defaults: SPM adds BOS and a space prefix, BPE adds neither unless told.
    addBOS = try m.optionalBool("tokenizer.ggml.add_bos_token") ?? (model == .spm)
    addEOS = try m.optionalBool("tokenizer.ggml.add_eos_token") ?? false
    addSpacePrefix = try m.optionalBool("tokenizer.ggml.add_space_prefix") ?? (model == .spm)
    if addBOS && bos == nil {
      throw TokenizerError.inconsistent("add_bos_token is true but bos_token_id is not set")
    }
  }

  /// Builds a vocabulary directly (tests, synthetic models).
  public init(
    model: Model, tokens: [String], scores: [Float]? = nil, types: [TokenType]? = nil,
    merges: [String] = [], preTokenizer: String = "default", bos: Int32? = nil, eos: Int32? = nil,
    eot: Int32? = nil, unknown: Int32? = nil, addBOS: Bool = false, addEOS: Bool = false,
    addSpacePrefix: Bool = false
  ) {
    self.model = model
    self.tokens = tokens
    self.scores = scores ?? [Float](repeating: 0, count: tokens.count)
    self.types = types ?? [TokenType](repeating: .normal, count: tokens.count)
    var ranks: [String: Int] = [:]
    for (rank, merge) in merges.enumerated() where ranks[merge] == nil { ranks[merge] = rank }
    self.mergeRanks = ranks
    self.preTokenizer = preTokenizer
    self.bos = bos
    self.eos = eos
    self.eot = eot
    self.unknown = unknown
    self.padding = nil
    self.addBOS = addBOS
    self.addEOS = addEOS
    self.addSpacePrefix = addSpacePrefix
  }

  /// True for ids that end generation (EOS, EOT).
  public func isEndOfGeneration(_ id: Int32) -> Bool {
    id == eos || id == eot
  }
}

public enum TokenizerError: Error, Sendable, Equatable, CustomStringConvertible {
  case unsupportedModel(String)
  case inconsistent(String)
  case unsupportedPreTokenizer(String)

  public var description: String {
    switch self {
    case .unsupportedModel(let m): return "tokenizer model '\(m)' is not supported (llama, gpt2 are)"
    case .inconsistent(let why): return "inconsistent tokenizer metadata: \(why)"
    case .unsupportedPreTokenizer(let p): return "BPE pre-tokenizer '\(p)' is not supported"
    }
  }
}
