import Foundation
import GGUF
import Testing

/// RELIABILITY.md A14: inconsistent model metadata, found by `validateModelMetadata()`.
@Suite struct GGUFModelValidationTests {
  /// A consistent tiny llama: 4 tokens, n_embd 8, 2 blocks, 4 heads / 2 KV heads.
  static func model(_ edit: (inout GGUFWriter) -> Void = { _ in }) throws -> GGUFFile {
    var w = GGUFWriter()
    w.set("general.architecture", .string("llama"))
    w.set("llama.context_length", .uint32(4096))
    w.set("llama.embedding_length", .uint32(8))
    w.set("llama.block_count", .uint32(2))
    w.set("llama.attention.head_count", .uint32(4))
    w.set("llama.attention.head_count_kv", .uint32(2))
    w.set("tokenizer.ggml.tokens", .array(GGUFArray(.string(["<unk>", "<s>", "</s>", "a"]))))
    w.set("tokenizer.ggml.scores", .array(GGUFArray(.float32([0, 0, 0, -1]))))
    w.set("tokenizer.ggml.token_type", .array(GGUFArray(.int32([2, 3, 3, 1]))))
    w.set("tokenizer.ggml.bos_token_id", .uint32(1))
    w.set("tokenizer.ggml.eos_token_id", .uint32(2))
    w.addTensor(
      name: "token_embd.weight", type: .f32, shape: [8, 4], bytes: [UInt8](repeating: 0, count: 128))
    w.addTensor(
      name: "blk.0.attn_norm.weight", type: .f32, shape: [8], bytes: [UInt8](repeating: 0, count: 32))
    w.addTensor(
      name: "blk.1.attn_norm.weight", type: .f32, shape: [8], bytes: [UInt8](repeating: 0, count: 32))
    edit(&w)
    let path = temporaryPath()
    defer { try? FileManager.default.removeItem(atPath: path) }
    try w.write(to: path)
    return try GGUFFile(path: path)
  }

  func expectInvalid(
    _ expected: GGUFError, _ edit: (inout GGUFWriter) -> Void,
    sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let f = try Self.model(edit)  // parsing still succeeds: inspect must show broken models
    #expect(throws: expected, sourceLocation: sourceLocation) { try f.validateModelMetadata() }
  }

  @Test func consistentModelPasses() throws {
    try Self.model().validateModelMetadata()
    try GGUFFile(path: goldenPath).validateModelMetadata()  // no model keys at all
  }

  @Test func vocabularyArrays() throws {
    try expectInvalid(.inconsistentMetadata(key: "tokenizer.ggml.scores", reason: "3 entries for 4 tokens")) {
      $0.set("tokenizer.ggml.scores", .array(GGUFArray(.float32([0, 0, 0]))))
    }
    try expectInvalid(
      .inconsistentMetadata(key: "tokenizer.ggml.token_type", reason: "5 entries for 4 tokens")
    ) {
      $0.set("tokenizer.ggml.token_type", .array(GGUFArray(.int32([1, 1, 1, 1, 1]))))
    }
    try expectInvalid(
      .metadataType(key: "tokenizer.ggml.scores", expected: "array[float32]", actual: "array[int8]")
    ) {
      $0.set("tokenizer.ggml.scores", .array(GGUFArray(.int8([0, 0, 0, 0]))))
    }
  }

  @Test func specialTokenIds() throws {
    try expectInvalid(
      .inconsistentMetadata(key: "tokenizer.ggml.eos_token_id", reason: "token id 4 ≥ vocabulary size 4")
    ) {
      $0.set("tokenizer.ggml.eos_token_id", .uint32(4))
    }
    try expectInvalid(
      .inconsistentMetadata(key: "tokenizer.ggml.padding_token_id", reason: "token id 99 ≥ vocabulary size 4")
    ) {
      $0.set("tokenizer.ggml.padding_token_id", .uint32(99))
    }
    try expectInvalid(
      .valueOutOfRange(key: "tokenizer.ggml.bos_token_id", value: "-1", reason: "token ids are non-negative")
    ) {
      $0.set("tokenizer.ggml.bos_token_id", .int32(-1))
    }
  }

  @Test func unknownTokenIdOutOfRange() throws {
    try expectInvalid(
      .inconsistentMetadata(key: "tokenizer.ggml.unknown_token_id", reason: "token id 4 ≥ vocabulary size 4")
    ) {
      $0.set("tokenizer.ggml.unknown_token_id", .uint32(4))
    }
    try expectInvalid(
      .inconsistentMetadata(
        key: "tokenizer.ggml.seperator_token_id", reason: "token id 1000 ≥ vocabulary size 4")
    ) {
      $0.set("tokenizer.ggml.seperator_token_id", .uint32(1000))
    }
    try Self.model { $0.set("tokenizer.ggml.unknown_token_id", .uint32(0)) }.validateModelMetadata()
  }

  @Test func tokenTypesInTheEnum() throws {
    try expectInvalid(
      .valueOutOfRange(
        key: "tokenizer.ggml.token_type", value: "7 (token 3)", reason: "token types are 0...6")
    ) {
      $0.set("tokenizer.ggml.token_type", .array(GGUFArray(.int32([2, 3, 3, 7]))))
    }
    try expectInvalid(
      .valueOutOfRange(
        key: "tokenizer.ggml.token_type", value: "-1 (token 0)", reason: "token types are 0...6")
    ) {
      $0.set("tokenizer.ggml.token_type", .array(GGUFArray(.int32([-1, 3, 3, 1]))))
    }
    // Every type of the enum, UNDEFINED (0) to BYTE (6), is accepted.
    for types: [Int32] in [[0, 1, 2, 3], [4, 5, 6, 1]] {
      try Self.model { $0.set("tokenizer.ggml.token_type", .array(GGUFArray(.int32(types)))) }
        .validateModelMetadata()
    }
  }

  @Test func vocabSizeKey() throws {
    try expectInvalid(
      .inconsistentMetadata(key: "llama.vocab_size", reason: "5 for a vocabulary of 4 tokens")
    ) {
      $0.set("llama.vocab_size", .uint32(5))
    }
    try Self.model { $0.set("llama.vocab_size", .uint32(4)) }.validateModelMetadata()
  }

  @Test func ropeFreqBase() throws {
    for bad: Float in [0, -10_000, .nan, .infinity] {
      try expectInvalid(
        .valueOutOfRange(key: "llama.rope.freq_base", value: "\(bad)", reason: "must be a finite number > 0")
      ) {
        $0.set("llama.rope.freq_base", .float32(bad))
      }
    }
    try expectInvalid(
      .valueOutOfRange(key: "llama.rope.freq_base_swa", value: "0.0", reason: "must be a finite number > 0")
    ) {
      $0.set("llama.rope.freq_base_swa", .float32(0))
    }
    try Self.model { $0.set("llama.rope.freq_base", .float32(10_000)) }.validateModelMetadata()
  }

  @Test func headCounts() throws {
    try expectInvalid(
      .inconsistentMetadata(key: "llama.attention.head_count", reason: "head count 0 must be > 0")
    ) {
      $0.set("llama.attention.head_count", .uint32(0))
    }
    try expectInvalid(
      .inconsistentMetadata(
        key: "llama.attention.head_count_kv", reason: "head count 4 is not a multiple of KV head count 3")
    ) {
      $0.set("llama.attention.head_count_kv", .uint32(3))
    }
    try expectInvalid(
      .inconsistentMetadata(key: "llama.attention.head_count_kv", reason: "KV head count 0 must be > 0")
    ) {
      $0.set("llama.attention.head_count_kv", .uint32(0))
    }
    // Per-layer arrays are accepted when consistent.
    try Self.model { $0.set("llama.attention.head_count_kv", .array(GGUFArray(.int32([1, 4])))) }
      .validateModelMetadata()
  }

  @Test func absurdSizes() throws {
    try expectInvalid(
      .valueOutOfRange(key: "llama.context_length", value: "\(1 << 24 + 1)", reason: "expected 1...16777216")
    ) {
      $0.set("llama.context_length", .uint32(1 << 24 + 1))
    }
    try expectInvalid(.valueOutOfRange(key: "llama.block_count", value: "4097", reason: "expected 1...4096"))
    {
      $0.set("llama.block_count", .uint32(4097))
    }
    try expectInvalid(.metadataType(key: "llama.block_count", expected: "integer", actual: "string")) {
      $0.set("llama.block_count", .string("2"))
    }
  }

  @Test func tensorShapesAgainstHyperparameters() throws {
    try expectInvalid(
      .inconsistentMetadata(
        key: "token_embd.weight", reason: "shape [8, 4] has row length ≠ llama.embedding_length 16")
    ) {
      $0.set("llama.embedding_length", .uint32(16))
    }
    try expectInvalid(
      .inconsistentMetadata(key: "token_embd.weight", reason: "shape [8, 4] has 4 rows for 5 tokens")
    ) {
      $0.set("tokenizer.ggml.tokens", .array(GGUFArray(.string(["a", "b", "c", "d", "e"]))))
      $0.set("tokenizer.ggml.scores", .array(GGUFArray(.float32([0, 0, 0, 0, 0]))))
      $0.set("tokenizer.ggml.token_type", .array(GGUFArray(.int32([1, 1, 1, 1, 1]))))
    }
    try expectInvalid(
      .inconsistentMetadata(key: "blk.2.attn_norm.weight", reason: "block 2 ≥ llama.block_count 2")
    ) {
      $0.addTensor(
        name: "blk.2.attn_norm.weight", type: .f32, shape: [8], bytes: [UInt8](repeating: 0, count: 32))
    }
  }
}
