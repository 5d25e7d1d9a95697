import Foundation
import GGUF
import QuantaCore
import QuantaLM
import Testing

@testable import GPUBackend
@testable import QuantaSynth
@testable import QuantaTools

/// `quanta synth --arch gpt-oss`: the real shape's parameter count, llama.cpp's tensor table and
/// metadata (biases, sinks, YaRN, the window), MXFP4 experts under MXFP4_MOE, tiny files that
/// decode; and the kernels a GPU plan of the model launches (the recording vendor of
/// PlanFusionTests: no GPU).
@Suite("quanta synth: gpt-oss")
struct SynthGptOssTests {
  @Test func realShapeHasThePublishedParameterCount() throws {
    // gpt-oss-20b: embeddings and head 2 × 201088 × 2880, and per layer Q (4096 wide) and K/V (512)
    // with biases, the output projection with its bias, 64 sinks, two norms, a 32-expert router with
    // its bias and 3 × 32 experts of 2880 × 2880 with biases; 24 layers. llama.cpp: 20.91 B.
    let p = try SynthPreset.named("gpt-oss-20b", architecture: "gpt-oss")
    #expect(p.parameterCount == 20_914_757_184)
    #expect(p.architecture == .gptOss && p.expertCount == 32 && p.expertUsedCount == 4)
  }

  @Test("tiny gpt-oss: biases, sinks, YaRN and window metadata, MXFP4 experts, a separate head")
  func tinyTensors() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let file = try writeSynth(try SynthPreset.named("tiny", architecture: "gpt-oss"), "MXFP4_MOE", in: dir)
    #expect(file.tensor(named: "blk.3.attn_sinks.weight")?.shape == [4])
    #expect(file.tensor(named: "blk.0.attn_q.bias")?.shape == [256])
    #expect(file.tensor(named: "blk.0.attn_output.bias")?.shape == [256])
    #expect(file.tensor(named: "blk.0.ffn_gate_inp.bias")?.shape == [16])
    #expect(file.tensor(named: "blk.0.ffn_gate_exps.bias")?.shape == [256, 16])
    #expect(file.tensor(named: "blk.0.ffn_down_exps.bias")?.shape == [256, 16])
    #expect(file.tensor(named: "blk.0.ffn_gate_exps.bias")?.type == .f32)
    #expect(file.tensor(named: "blk.1.ffn_up_exps.weight")?.type == .mxfp4)
    #expect(file.tensor(named: "blk.1.ffn_down_exps.weight")?.type == .mxfp4)
    #expect(file.tensor(named: "blk.1.post_attention_norm.weight") != nil)
    #expect(file.tensor(named: "blk.1.ffn_norm.weight") == nil && file.tensor(named: "output.weight") != nil)
    #expect(try file.metadata.string("gpt-oss.rope.scaling.type") == "yarn")
    #expect(try file.metadata.float("gpt-oss.rope.scaling.factor") == 32)
    #expect(try file.metadata.int("gpt-oss.rope.scaling.original_context_length") == 4096)
    #expect(try file.metadata.int("gpt-oss.attention.sliding_window") == 32)
    let c = try ModelConfig(file: file)
    #expect(c.architecture == .gptOss && c.expertCount == 16 && c.expertUsedCount == 4)
    #expect(c.ropeExtFactor == 1 && c.ropeFreqScale == 1 / 32)
    #expect((0..<4).map(c.isSlidingWindowLayer) == [true, false, true, false])
    // llama.cpp's yarn_attn_factor: get_mscale(32) / (1 + 0.1 ln 32), 1 up to f32 rounding.
    #expect(abs(c.ropeAttentionFactor - 1) < 1e-6)
  }

  @Test(
    "tiny gpt-oss files load and decode greedily, the same tokens twice", arguments: ["Q8_0", "MXFP4_MOE"])
  func decodes(_ type: String) async throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    _ = try writeSynth(try SynthPreset.named("tiny", architecture: "gpt-oss"), type, in: dir)
    let model = try await LanguageModel.load(
      path: dir.file("m.gguf"), device: .cpu, registry: .standard,
      options: ModelLoadOptions(contextLength: 64))
    #expect(model.config.architecture == .gptOss)
    var options = GenerationOptions(maxTokens: 40, sampling: .greedy)
    options.ignoreEndOfGeneration = true
    // 40 tokens after the prompt: past the window of 32 on the sliding layers.
    let first = try await model.complete(prompt: "the cat sat on", options: options)
    let second = try await model.complete(prompt: "the cat sat on", options: options)
    #expect(first.summary.generatedTokens == 40)
    #expect(first.summary.tokenIDs == second.summary.tokenIDs)
  }

  /// A 40-token prompt (past the tile kernels' 32) and a decode step of each file type on the
  /// recording vendor (no GPU): gpt-oss's ops run as their kernels — attention with sinks on the
  /// prompt tile kernel and on attention_f16 for decode, swiglu_oai, add_id for each expert bias,
  /// the YaRN rope in the fused chain — and nothing is refused. What the kernels compute is checked by the CPU
  /// emulation (scripts/gpu_kernels_emulate.sh) and, on a GPU, by `quanta selftest` and
  /// scripts/gpu_gptoss_check.sh.
  @Test(arguments: ["Q8_0", "MXFP4_MOE", "F32"])
  func gpuPlanLaunchesTheGptOssKernels(_ type: String) throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let (model, api, p) = try recordingModel(type, in: dir)
    let session = try model.makeSession()
    let layers = p.layerCount
    api.reset()
    try session.evaluate(tokens: (1...40).map { Int32($0) })
    let prompt = api.launches
    let count = { (names: [String], name: String) in names.filter { $0 == name }.count }
    // The prompt on the tile kernel (sinks as its last argument), decode on attention_f16 below.
    #expect(count(prompt, "flash_attn_tile_f16_d64") == layers, "\(prompt)")
    #expect(count(prompt, "attention_f16") == 0)
    #expect(count(prompt, "swiglu_oai_f32") == layers)
    // The experts' gate, up and down biases.
    #expect(count(prompt, "add_id_f32") == 3 * layers)
    #expect(count(prompt, "rope_norm_kv_f32") == layers, "q and k of each layer in one launch")
    #expect(count(prompt, "rope_f32") == 0)
    let experts = prompt.filter { $0.hasPrefix("mul_mat_vec_q_id_") || $0.hasPrefix("mul_mat_vec_id_") }
    #expect(experts.count == 3 * layers, "\(experts)")
    if type == "MXFP4_MOE" { #expect(experts.allSatisfy { $0.hasPrefix("mul_mat_vec_q_id_mxfp4_") }) }
    if type == "F32" { #expect(experts.allSatisfy { $0 == "mul_mat_vec_id_f32" }) }
    api.reset()
    try session.evaluate(token: 41)
    #expect(count(api.launches, "attention_f16") == layers)
    #expect(count(api.launches, "swiglu_oai_f32") == layers)
  }

  /// Batched decode of three gpt-oss sequences on the recording vendor: each layer's attention with
  /// sinks is one launch for all of them (GPUPlanSequences.swift), the sinks passed along.
  @Test func gpuBatchedDecodeAttendsOnceForAllSequences() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let (model, api, p) = try recordingModel("Q8_0", in: dir)
    let sessions = try (0..<3).map { _ in try model.makeSession() }
    for (i, s) in sessions.enumerated() { try s.evaluate(tokens: Array(repeating: 1, count: i + 2)) }
    let decoder = try BatchDecoder(model: model, maxBatch: 4)
    try decoder.decode(sessions, tokens: [1, 2, 3])  // eager
    api.reset()
    try decoder.decode(sessions, tokens: [1, 2, 3])
    let kernels = api.captured + api.launches
    #expect(kernels.filter { $0 == "attention_f16" }.count == p.layerCount, "\(kernels)")
  }

  /// The tiny gpt-oss file of `type` in `dir`, loaded on a GPU backend over the recording vendor.
  func recordingModel(_ type: String, in dir: TempDir) throws -> (
    LanguageModel, RecordingVendorAPI, SynthPreset
  ) {
    let p = try SynthPreset.named("tiny", architecture: "gpt-oss")
    _ = try writeSynth(p, type, in: dir)
    let api = RecordingVendorAPI()
    let gpu = try GPUBackend(
      device: .cuda(0), api: api, cache: KernelCache(directory: URL(fileURLWithPath: dir.path)))
    let model = try LanguageModel(
      file: try GGUFFile(path: dir.file("m.gguf")), backend: gpu,
      options: ModelLoadOptions(contextLength: 64, batchSize: 64))
    return (model, api, p)
  }
}
