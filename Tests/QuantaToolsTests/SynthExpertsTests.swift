import Foundation
import GGUF
import QuantaCore
import QuantaLM
import Testing

@testable import QuantaSynth
@testable import QuantaTools

/// `quanta synth --arch qwen3moe` and `--arch llama --experts N`: the real shapes' parameter counts
/// (the published ones), llama.cpp's tensor names and stacked shapes, the expert metadata, and
/// tiny files that Quanta loads and decodes.
@Suite("quanta synth: mixture of experts")
struct SynthExpertsTests {
  @Test func realShapesHaveThePublishedParameterCounts() throws {
    // Qwen3-30B-A3B: embeddings and head 2 × 151936 × 2048, and per layer attention (q 4096, k/v
    // 512 wide), norms, a 128-expert router and 3 × 128 experts of 2048 × 768; 48 layers.
    #expect(try SynthPreset.named("qwen3-30b-a3b", architecture: "qwen3moe").parameterCount == 30_532_122_624)
    // Mixtral-8x7B-v0.1: 46,702,792,704 (its model card's 46.7B).
    let mixtral = try SynthPreset.named("mixtral-8x7b", architecture: "llama", experts: 8)
    #expect(mixtral.parameterCount == 46_702_792_704)
    #expect(mixtral.architecture == .mixtral && mixtral.expertUsedCount == 2)
  }

  @Test func expertsFlagPicksTheExpertShape() throws {
    #expect(try SynthPreset.named("tiny", architecture: "llama").architecture == .llama)
    let four = try SynthPreset.named("tiny", architecture: "llama", experts: 4)
    #expect(four.architecture == .mixtral && four.expertCount == 4 && four.expertUsedCount == 2)
    #expect(try SynthPreset.named("tiny", architecture: "llama", experts: 1).expertUsedCount == 1)
    #expect(throws: SynthError.noExperts(preset: "gemma2-2b", architecture: "gemma2")) {
      try SynthPreset.named("gemma2-2b", architecture: "gemma2", experts: 8)
    }
  }

  @Test("tiny qwen3moe: router and stacked experts, expert metadata, no dense FFN")
  func qwen3moeTensors() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let file = try writeSynth(try SynthPreset.named("tiny", architecture: "qwen3moe"), "Q4_K_M", in: dir)
    #expect(file.tensor(named: "blk.0.ffn_gate_inp.weight")?.shape == [256, 16])
    #expect(file.tensor(named: "blk.0.ffn_gate_inp.weight")?.type == .f32)
    #expect(file.tensor(named: "blk.2.ffn_gate_exps.weight")?.shape == [256, 256, 16])
    #expect(file.tensor(named: "blk.2.ffn_down_exps.weight")?.shape == [256, 256, 16])
    #expect(
      file.tensor(named: "blk.0.ffn_gate.weight") == nil && file.tensor(named: "blk.0.ffn_down.weight") == nil
    )
    #expect(try file.metadata.int("qwen3moe.expert_count") == 16)
    #expect(try file.metadata.int("qwen3moe.expert_used_count") == 4)
    #expect(try file.metadata.int("qwen3moe.expert_feed_forward_length") == 256)
    let config = try ModelConfig(file: file)
    #expect(config.expertCount == 16 && config.expertUsedCount == 4 && config.expertFeedForwardLength == 256)
  }

  @Test(
    "tiny MoE files load and decode greedily, the same tokens twice",
    arguments: [
      ("qwen3moe", 0, "Q8_0"), ("qwen3moe", 0, "Q4_K_M"), ("llama", 8, "Q8_0"), ("llama", 8, "Q4_K_M"),
    ])
  func decodes(_ arch: String, _ experts: Int, _ type: String) async throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let preset = try SynthPreset.named("tiny", architecture: arch, experts: experts > 0 ? experts : nil)
    let file = try writeSynth(preset, type, in: dir)
    if experts > 0 { #expect(try file.metadata.int("llama.expert_count") == experts) }
    let model = try await LanguageModel.load(
      path: dir.file("m.gguf"), device: .cpu, registry: .standard,
      options: ModelLoadOptions(contextLength: 64))
    #expect(model.config.architecture.hasExperts)
    var options = GenerationOptions(maxTokens: 12, sampling: .greedy)
    options.ignoreEndOfGeneration = true
    let first = try await model.complete(prompt: "the cat sat on", options: options)
    let second = try await model.complete(prompt: "the cat sat on", options: options)
    #expect(first.summary.generatedTokens == 12)
    #expect(first.summary.tokenIDs == second.summary.tokenIDs)
  }
}
