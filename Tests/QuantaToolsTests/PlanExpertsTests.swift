import Foundation
import GGUF
import QuantaCore
import QuantaLM
import QuantaSynth
import QuantaTools
import Testing

@testable import GPUBackend

/// What a GPU plan of a mixture-of-experts model issues (the recording vendor of PlanFusionTests: no
/// GPU, nothing runs): decode is one recorded graph with the expert kernels in it — routing, the
/// expert mat-vecs reading their ids on the device (one pair per CTA row), the mix — and a prompt
/// groups its pairs per expert once per layer for gate, up and down. The results: `quanta selftest`.
@Suite("GPU plan of expert models (recording vendor, no GPU)")
struct PlanExpertsTests {
  struct Issued {
    var decode: [String]  // the kernels of the recorded decode graph
    var replayLaunches: [String]  // kernels launched outside the graph by a replayed step
    var graphLaunches: Int
    var prompt: [String]  // the kernels of a 5-token prompt step
    var layers: Int
  }

  func issued(arch: String) throws -> Issued {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("quanta-moe-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let architecture: SynthArchitecture = arch == "mixtral" ? .mixtral : .qwen3moe
    let p = try #require(PlanSelftest.presets.first { $0.architecture == architecture && $0.expertCount > 0 })
    let path = dir.appendingPathComponent("m.gguf").path
    _ = try SynthModel.write(
      SynthOptions(preset: p, target: try SynthTarget(argument: "Q4_0"), outputPath: path))
    let api = RecordingVendorAPI()
    let gpu = try GPUBackend(device: .cuda(0), api: api, cache: KernelCache(directory: dir))
    let model = try LanguageModel(
      file: try GGUFFile(path: path), backend: gpu,
      options: ModelLoadOptions(contextLength: 32, batchSize: 32))
    let session = try model.makeSession()
    api.reset()
    try session.evaluate(tokens: [1, 2, 3, 4, 5])
    let prompt = api.launches
    try session.evaluate(token: 6)  // eager: loads and resolves every kernel
    api.reset()
    try session.evaluate(token: 7)  // records the graph, launches it
    let decode = api.captured
    api.reset()
    try session.evaluate(token: 8)  // replays it
    return Issued(
      decode: decode, replayLaunches: api.launches, graphLaunches: api.graphLaunches, prompt: prompt,
      layers: p.layerCount)
  }

  @Test(arguments: ["qwen3moe", "mixtral"])
  func expertLayersRunOnTheDevice(arch: String) throws {
    let r = try issued(arch: arch)
    let inDecode = { (name: String) in r.decode.filter { $0 == name }.count }
    let inPrompt = { (name: String) in r.prompt.filter { $0 == name }.count }
    #expect(r.graphLaunches == 1)
    #expect(
      r.replayLaunches.isEmpty, "a replayed step launches kernels outside its graph: \(r.replayLaunches)")
    // Decode: per layer one routing, gate/up/down as one-pair-per-row expert mat-vecs, one mix.
    #expect(inDecode("moe_route_f32") == r.layers, "\(r.decode)")
    #expect(inDecode("mul_mat_vec_q_id_q4_0_1") == 3 * r.layers, "\(r.decode)")
    #expect(inDecode("moe_mix_f32") == r.layers)
    #expect(inDecode("moe_group_pairs") == 0)
    // gate and up share one quantization of the layer's input, down quantizes the activation.
    #expect(inDecode("quantize_q8_1") == 2 * r.layers, "\(r.decode)")
    // Prompt: the pairs grouped once per layer, gate/up/down over the grouped tiles; the last layer
    // runs the last token's row only (llama.cpp's inp_out_ids), one pair per CTA row.
    #expect(inPrompt("moe_route_f32") == r.layers)
    #expect(inPrompt("moe_group_pairs") == r.layers - 1, "\(r.prompt)")
    #expect(inPrompt("mul_mat_vec_q_id_q4_0_\(GPUMatVec.maxColumns)") == 3 * (r.layers - 1), "\(r.prompt)")
    #expect(inPrompt("mul_mat_vec_q_id_q4_0_1") == 3)
    #expect(inPrompt("moe_mix_f32") == r.layers)
  }
}
