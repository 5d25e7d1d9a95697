import Foundation
import GGUF
import QuantaCore
import QuantaLM
import Testing

@testable import QuantaSynth
@testable import QuantaTools

/// `quanta synth --arch phi3|gemma2 --preset tiny`: llama.cpp's tensor names and shapes for the
/// fused and soft-capped families, the metadata llama.cpp's loader reads, and files that Quanta
/// loads and decodes.
@Suite("quanta synth: phi3 and gemma2")
struct SynthFamiliesTests {
  @Test("tiny phi3: fused attn_qkv (q + k + v rows) and ffn_up (2·ff rows), no gate, own LM head")
  func phi3Tensors() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let preset = try SynthPreset.named("tiny", architecture: "phi3")
    #expect(preset.architecture == .phi3)
    let file = try writeSynth(preset, "Q8_0", in: dir)
    // d 256, 4 heads and 4 KV heads of 64: 256 + 256 + 256 rows; ff 640.
    #expect(file.tensor(named: "blk.0.attn_qkv.weight")?.shape == [256, 768])
    #expect(file.tensor(named: "blk.2.ffn_up.weight")?.shape == [256, 1280])
    #expect(file.tensor(named: "blk.0.ffn_down.weight")?.shape == [640, 256])
    #expect(
      file.tensor(named: "blk.0.attn_q.weight") == nil && file.tensor(named: "blk.0.ffn_gate.weight") == nil)
    #expect(file.tensor(named: "output.weight")?.shape == [256, 512])
    #expect(try file.metadata.int("phi3.rope.scaling.original_context_length") == 512)
  }

  @Test("tiny gemma2: sandwich norms, soft-caps and window in the metadata, tied LM head")
  func gemma2Tensors() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let file = try writeSynth(try SynthPreset.named("tiny", architecture: "gemma2"), "Q8_0", in: dir)
    #expect(file.tensor(named: "blk.3.post_attention_norm.weight")?.shape == [256])
    #expect(file.tensor(named: "blk.3.post_ffw_norm.weight")?.shape == [256])
    #expect(file.tensor(named: "output.weight") == nil)
    #expect(try file.metadata.float("gemma2.attn_logit_softcapping") == 50)
    #expect(try file.metadata.float("gemma2.final_logit_softcapping") == 30)
    #expect(try file.metadata.int("gemma2.attention.sliding_window") == 32)
    let config = try ModelConfig(file: file)
    #expect(config.attentionSoftcap == 50 && config.finalLogitSoftcap == 30)
    #expect((0..<4).map(config.isSlidingWindowLayer) == [true, false, true, false])
  }

  @Test(
    "tiny files load and decode greedily, the same tokens twice",
    arguments: [("phi3", "Q8_0"), ("phi3", "Q4_K_M"), ("gemma2", "Q8_0"), ("gemma2", "Q4_K_M")])
  func decodes(_ arch: String, _ type: String) async throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    _ = try writeSynth(try SynthPreset.named("tiny", architecture: arch), type, in: dir)
    let model = try await LanguageModel.load(
      path: dir.file("m.gguf"), device: .cpu, registry: .standard,
      options: ModelLoadOptions(contextLength: 64))
    var options = GenerationOptions(maxTokens: 12, sampling: .greedy)
    options.ignoreEndOfGeneration = true
    let first = try await model.complete(prompt: "the cat sat on", options: options)
    let second = try await model.complete(prompt: "the cat sat on", options: options)
    #expect(first.1.generatedTokens == 12)
    #expect(first.1.tokenIDs == second.1.tokenIDs)
    // gemma2's final soft-cap bounds every logit by 30.
    let session = try model.makeSession()
    let logits: [Float] = try session.evaluate(tokens: model.tokenizer.encode("the cat"))
    let finite = logits.allSatisfy { $0.isFinite }
    let bounded = logits.allSatisfy { abs($0) <= 30 }
    #expect(finite)
    if arch == "gemma2" { #expect(bounded) }
  }
}
