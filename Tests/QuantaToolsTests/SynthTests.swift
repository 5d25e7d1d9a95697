import Foundation
import GGML
import GGUF
import QuantaLM
import Testing

@testable import QuantaQuantize
@testable import QuantaSynth
@testable import QuantaTools

/// Small presets of each kind, written fast in debug builds.
enum SynthTestPresets {
  /// One layer, 256-wide rows everywhere: every block type fits without fallback.
  static let micro = SynthPreset(
    name: "micro", displayName: "micro", architecture: .llama, layerCount: 1, embeddingLength: 256,
    feedForwardLength: 256, headCount: 2, kvHeadCount: 1, headDim: 128, vocabularySize: 320,
    contextLength: 256, ropeFreqBase: 10_000, rmsEpsilon: 1e-5, tiedEmbeddings: false,
    tokenizer: .llama2(vocabularySize: 320))
  /// Llama-3.2-shaped in miniature: BPE with the 256 special tokens last, tied, rope_freqs.
  static let llama3 = SynthPreset(
    name: "tiny-llama3", displayName: "tiny llama3", architecture: .llama, layerCount: 2,
    embeddingLength: 256, feedForwardLength: 512, headCount: 4, kvHeadCount: 1, headDim: 64,
    vocabularySize: 1024, contextLength: 1024, ropeFreqBase: 500_000, rmsEpsilon: 1e-5,
    tiedEmbeddings: true,
    ropeScaling: Llama3RopeScaling(
      factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 8192),
    tokenizer: .llama3(vocabularySize: 1024, version31: true))
  static let gemma3 = SynthPreset(
    name: "tiny-gemma3", displayName: "tiny gemma3", architecture: .gemma3, layerCount: 2,
    embeddingLength: 256, feedForwardLength: 512, headCount: 2, kvHeadCount: 1, headDim: 128,
    vocabularySize: 1024, contextLength: 1024, ropeFreqBase: 1_000_000, rmsEpsilon: 1e-6,
    tiedEmbeddings: true, slidingWindow: 64, tokenizer: .gemma3(vocabularySize: 1024))
  static let qwen2 = SynthPreset(
    name: "tiny-qwen2", displayName: "tiny qwen2", architecture: .qwen2, layerCount: 2,
    embeddingLength: 256, feedForwardLength: 512, headCount: 4, kvHeadCount: 2, headDim: 64,
    vocabularySize: 800, contextLength: 1024, ropeFreqBase: 1_000_000, rmsEpsilon: 1e-6,
    tiedEmbeddings: true, tokenizer: .qwen(vocabularySize: 800, regularCount: 700, qwen3: false))
  static let qwen3 = SynthPreset(
    name: "tiny-qwen3", displayName: "tiny qwen3", architecture: .qwen3, layerCount: 2,
    embeddingLength: 256, feedForwardLength: 512, headCount: 4, kvHeadCount: 2, headDim: 128,
    vocabularySize: 800, contextLength: 1024, ropeFreqBase: 1_000_000, rmsEpsilon: 1e-6,
    tiedEmbeddings: true, tokenizer: .qwen(vocabularySize: 800, regularCount: 700, qwen3: true))
}

func writeSynth(
  _ preset: SynthPreset, _ type: String, in dir: TempDir, name: String = "m.gguf", seed: UInt64 = 0,
  pure: Bool = false
) throws -> GGUFFile {
  let path = dir.file(name)
  _ = try SynthModel.write(
    SynthOptions(
      preset: preset, target: try SynthTarget(argument: type, pure: pure), pure: pure, seed: seed,
      outputPath: path))
  return try GGUFFile(path: path)
}

/// Mean and standard deviation of a tensor's dequantized values; nil when one is not finite.
func synthStats(_ file: GGUFFile, _ name: String) throws -> (mean: Double, std: Double)? {
  let t = try #require(file.tensor(named: name))
  let count = t.shape.reduce(1, *)
  let values = try file.withData(for: t) { try t.type.dequantize($0, count: count) }
  guard values.allSatisfy(\.isFinite) else { return nil }
  let mean = values.reduce(0.0) { $0 + Double($1) } / Double(count)
  let variance = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(count)
  return (mean, variance.squareRoot())
}

@Suite("quanta synth")
struct SynthTests {
  @Test("tiny: llama.cpp's tensor names and the preset's shapes")
  func tinyShapes() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let file = try writeSynth(SynthPreset.all.first { $0.name == "tiny" }!, "Q4_0", in: dir)
    var expected: [String: [Int]] = [
      "token_embd.weight": [256, 512], "output_norm.weight": [256], "output.weight": [256, 512],
    ]
    for i in 0..<3 {
      expected["blk.\(i).attn_norm.weight"] = [256]
      expected["blk.\(i).attn_q.weight"] = [256, 256]
      expected["blk.\(i).attn_k.weight"] = [256, 128]
      expected["blk.\(i).attn_v.weight"] = [256, 128]
      expected["blk.\(i).attn_output.weight"] = [256, 256]
      expected["blk.\(i).ffn_norm.weight"] = [256]
      expected["blk.\(i).ffn_gate.weight"] = [256, 640]
      expected["blk.\(i).ffn_up.weight"] = [256, 640]
      expected["blk.\(i).ffn_down.weight"] = [640, 256]
    }
    #expect(file.tensors.count == expected.count)
    for t in file.tensors { #expect(expected[t.name] == t.shape, "\(t.name)") }
    // Q4_0: weights q4_0, output q6_K (llama.cpp's output rule), norms f32.
    #expect(file.tensor(named: "blk.1.ffn_down.weight")?.type == .q4_0)
    #expect(file.tensor(named: "output.weight")?.type == .q6_K)
    #expect(file.tensor(named: "blk.0.attn_norm.weight")?.type == .f32)
    #expect(try file.metadata.int("general.file_type") == 2)
    #expect(try file.metadata.int("general.quantization_version") == 2)
  }

  @Test(
    "types follow llama.cpp's mix rules (via the planner)",
    arguments: ["Q4_K_M", "Q3_K_M", "Q5_K_S", "Q6_K", "IQ4_XS", "F16"])
  func mixTypes(_ mix: String) throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let preset = SynthPreset.all.first { $0.name == "tiny" }!
    let file = try writeSynth(preset, mix, in: dir)
    let fileType = try #require(LlamaFileType(argument: mix))
    let plan = try TensorTypePlanner.plan(
      tensors: file.tensors.map { TensorDescriptor(name: $0.name, type: .f32, shape: $0.shape) },
      facts: ModelFacts(architecture: "llama", layerCount: 3, headCount: 4, headCountKV: 2),
      fileType: fileType)
    for p in plan.tensors { #expect(file.tensor(named: p.name)?.type == p.targetType, "\(mix) \(p.name)") }
    #expect(try file.metadata.int("general.file_type") == Int(fileType.rawValue))
    if mix == "Q4_K_M" {
      // Facts from llama.cpp's rules: ffn 640 is no multiple of 256, so q4_K falls back to q5_0
      // and the use_more_bits layer's q6_K to q8_0; attn_v of that layer is q6_K.
      #expect(file.tensor(named: "blk.0.ffn_down.weight")?.type == .q5_0)
      #expect(file.tensor(named: "blk.2.ffn_down.weight")?.type == .q8_0)
      #expect(file.tensor(named: "blk.2.attn_v.weight")?.type == .q6_K)
      #expect(file.tensor(named: "blk.1.attn_q.weight")?.type == .q4_K)
    }
  }

  @Test("every supported block type dequantizes finite with std near 0.02")
  func weightStatistics() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let types = SynthWeights.supportedTypes
    #expect(
      types.contains(.q4_0) && types.contains(.iq1_m) && types.contains(.mxfp4) && types.contains(.q8_K))
    for type in types {
      // --pure: the type itself everywhere (a name like q4_K alone would pick the Q4_K_M mix).
      let file = try writeSynth(
        SynthTestPresets.micro, type.name, in: dir, name: "\(type.name).gguf", pure: true)
      for name in ["blk.0.attn_q.weight", "blk.0.ffn_down.weight", "token_embd.weight", "output.weight"] {
        let t = try #require(file.tensor(named: name))
        #expect(t.type == type, "\(type) \(name)")
        let stats = try #require(try synthStats(file, name), "\(type) \(name) has non-finite values")
        #expect(stats.std > 0.01 && stats.std < 0.04, "\(type) \(name) std \(stats.std)")
        #expect(abs(stats.mean) < 0.01, "\(type) \(name) mean \(stats.mean)")
      }
      let norm = try #require(try synthStats(file, "blk.0.ffn_norm.weight"))
      #expect(abs(norm.mean - 1) < 0.01 && norm.std > 0.005 && norm.std < 0.05, "\(type) norm \(norm)")
    }
  }

  @Test("the same seed writes the same bytes; another seed other weights")
  func determinism() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let preset = SynthPreset.all.first { $0.name == "tiny" }!
    _ = try writeSynth(preset, "Q4_K_M", in: dir, name: "a.gguf", seed: 7)
    _ = try writeSynth(preset, "Q4_K_M", in: dir, name: "b.gguf", seed: 7)
    _ = try writeSynth(preset, "Q4_K_M", in: dir, name: "c.gguf", seed: 8)
    let a = try Data(contentsOf: URL(fileURLWithPath: dir.file("a.gguf")))
    let b = try Data(contentsOf: URL(fileURLWithPath: dir.file("b.gguf")))
    let c = try Data(contentsOf: URL(fileURLWithPath: dir.file("c.gguf")))
    #expect(a == b)
    #expect(a.count == c.count && a != c)
    // Only the file itself is left (the temporary was renamed).
    #expect(try dir.contents() == ["a.gguf", "b.gguf", "c.gguf"])
  }

  @Test(
    "metadata: validation, ModelConfig and the tokenizer accept every architecture",
    arguments: ["tiny", "tiny-llama3", "tiny-gemma3", "tiny-qwen2", "tiny-qwen3"])
  func loadsInQuantaLM(_ name: String) throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let presets =
      SynthPreset.all + [
        SynthTestPresets.llama3, SynthTestPresets.gemma3, SynthTestPresets.qwen2, SynthTestPresets.qwen3,
      ]
    let preset = try #require(presets.first { $0.name == name })
    let file = try writeSynth(preset, "Q8_0", in: dir)
    try file.validateModelMetadata()
    let config = try ModelConfig(file: file)
    #expect(config.architecture.rawValue == preset.architecture.rawValue)
    #expect(config.layerCount == preset.layerCount && config.headDim == preset.headDim)
    #expect(config.vocabularySize == preset.vocabularySize && config.kvHeadCount == preset.kvHeadCount)
    #expect(config.slidingWindow == preset.slidingWindow)
    #expect(file.tensor(named: "output.weight") == nil || !preset.tiedEmbeddings)
    let vocabulary = try Vocabulary(metadata: file.metadata)
    #expect(vocabulary.count == preset.vocabularySize)
    #expect(
      Set(vocabulary.tokens).count == vocabulary.count, "tokens must be distinct (llama.cpp asserts it)")
    let tokenizer = try Tokenizer(vocabulary)
    let text = "Hello world, 42 tokens!\n"
    let ids = tokenizer.encode(text, addSpecial: false)
    #expect(!ids.isEmpty)
    #expect(tokenizer.decode(ids).drop { $0 == " " } == text[...])
  }

  @Test("Llama 3 vocabulary: specials at their real ids, merges consistent")
  func llama3Vocabulary() throws {
    let v = SynthTokenizer.llama3(vocabularySize: 128_256, version31: true).build()
    #expect(v.tokens.count == 128_256)
    #expect(v.tokens[128_000] == "<|begin_of_text|>" && v.tokens[128_001] == "<|end_of_text|>")
    #expect(v.tokens[128_004] == "<|finetune_right_pad_id|>" && v.tokens[128_006] == "<|start_header_id|>")
    #expect(v.tokens[128_009] == "<|eot_id|>" && v.tokens[128_255] == "<|reserved_special_token_247|>")
    #expect(v.types[128_000] == 3 && v.types[1000] == 1)
    #expect(v.tokens[0] == "!" && v.tokens[220] == "Ġ")  // GPT-2 byte order, as tiktoken's ids
    let merges = try #require(v.merges)
    #expect(merges.count == 128_000 - 256)
    let ids = Dictionary(v.tokens.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
    #expect(ids.count == v.tokens.count)
    // Merge k makes token 256 + k from two earlier tokens.
    for (k, merge) in merges.enumerated() where k % 97 == 0 {
      let parts = merge.split(separator: " ", omittingEmptySubsequences: false)
      #expect(parts.count == 2)
      #expect(ids[String(parts[0])]! < 256 + k && ids[String(parts[1])]! < 256 + k)
      #expect(v.tokens[256 + k] == parts[0] + parts[1])
    }
    let v30 = SynthTokenizer.llama3(vocabularySize: 128_256, version31: false).build()
    #expect(v30.tokens[128_004] == "<|reserved_special_token_2|>" && v30.tokens[128_009] == "<|eot_id|>")
  }

  @Test("Llama 2 vocabulary: SentencePiece layout")
  func llama2Vocabulary() throws {
    let v = SynthTokenizer.llama2(vocabularySize: 32000).build()
    #expect(v.tokens.count == 32000 && Set(v.tokens).count == 32000)
    #expect(Array(v.tokens[0..<3]) == ["<unk>", "<s>", "</s>"])
    #expect(v.tokens[13] == "<0x0A>" && v.types[13] == 6)  // as in Llama 2's tokenizer.model
    #expect(v.tokens[259] == "▁" && v.types[259] == 1)
    #expect(v.scores![300] < v.scores![299])
  }

  @Test("presets: parameter counts of the real models")
  func parameterCounts() throws {
    // Published counts: Llama-2-7B 6,738,415,616; Meta-Llama-3-8B 8,030,261,248;
    // Llama-3.2-1B 1,235,814,400 (+ 32 rope frequency factors).
    #expect(try SynthPreset.named("7b", architecture: "llama").parameterCount == 6_738_415_616)
    #expect(try SynthPreset.named("llama3-8b", architecture: "llama").parameterCount == 8_030_261_248)
    #expect(try SynthPreset.named("llama3.2-1b", architecture: "llama").parameterCount == 1_235_814_432)
    #expect(try SynthPreset.named("gemma3-270m", architecture: "gemma3").parameterCount == 268_098_176)
    // Phi-3-mini 3,821,079,552 and Gemma-2-2B 2,614,341,888, as their model cards count them.
    #expect(try SynthPreset.named("phi3-mini", architecture: "phi3").parameterCount == 3_821_079_552)
    #expect(try SynthPreset.named("gemma2-2b", architecture: "gemma2").parameterCount == 2_614_341_888)
  }

  @Test("typed errors")
  func errors() throws {
    #expect(
      throws: SynthError.architectureMismatch(
        preset: "llama2-7b", presetArchitecture: "llama", requested: "gemma3")
    ) {
      try SynthPreset.named("7b", architecture: "gemma3")
    }
    #expect(throws: SynthError.unknownPreset("13b")) { try SynthPreset.named("13b", architecture: "llama") }
    #expect(throws: SynthError.unknownArchitecture("gpt2")) {
      try SynthPreset.named("7b", architecture: "gpt2")
    }
    #expect(throws: SynthError.unknownType("Q9_9")) { try SynthTarget(argument: "Q9_9") }
    #expect(throws: SynthError.noBlockLayout(.i32)) { try SynthTarget(argument: "i32") }
    let tiny = SynthPreset.all.first { $0.name == "tiny" }!
    #expect(throws: SynthError.mixNeedsImportanceMatrix(mix: "IQ2_XXS", type: .iq2_xxs)) {
      try SynthModel.plan(tiny, target: .mix(.iq2_xxs), pure: false)
    }
    let pure = try SynthModel.plan(tiny, target: .mix(.iq2_xxs), pure: true)
    #expect(pure.first { $0.name == "blk.0.attn_q.weight" }?.targetType == .iq2_xxs)
    #expect(pure.first { $0.name == "blk.0.ffn_down.weight" }?.targetType == .iq4_nl)  // 640-wide rows
    // A failed write leaves nothing behind.
    let dir = try TempDir()
    defer { dir.cleanup() }
    #expect(throws: (any Error).self) {
      try SynthModel.write(
        SynthOptions(preset: tiny, target: .mix(.q4_0), outputPath: dir.file("none/m.gguf")))
    }
    #expect(try dir.contents().isEmpty)
  }
}
