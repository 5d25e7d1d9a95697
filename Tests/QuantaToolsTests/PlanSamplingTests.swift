import Foundation
import GGUF
import Quanta
import QuantaCore
import QuantaLM
import QuantaSynth
import Testing

@testable import GPUBackend
@testable import QuantaTools

/// What a GPU decode step that samples issues (recording vendor, no GPU): the sampler's chain is one
/// more kernel inside the step's graph, and only the ids come back — 4 bytes per sequence, not the
/// logits row.
@Suite("GPU plan sampling (recording vendor, no GPU)")
struct PlanSamplingTests {
  func model(_ api: RecordingVendorAPI, dir: URL) throws -> LanguageModel {
    var p = try #require(PlanSelftest.presets.first { $0.architecture.rawValue == "llama" })
    p.name = "sampling-llama"
    let path = dir.appendingPathComponent("m.gguf").path
    _ = try SynthModel.write(
      SynthOptions(preset: p, target: try SynthTarget(argument: "Q4_0"), outputPath: path))
    let gpu = try GPUBackend(device: .cuda(0), api: api, cache: KernelCache(directory: dir))
    return try LanguageModel(
      file: try GGUFFile(path: path), backend: gpu,
      options: ModelLoadOptions(contextLength: 32, batchSize: 32))
  }

  func withDirectory(_ body: (URL) throws -> Void) throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
      "quanta-sampling-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    try body(dir)
  }

  @Test func sampledStepIsOneGraphReplayReturningOnlyTheID() throws {
    try withDirectory { dir in
      let api = RecordingVendorAPI()
      let m = try model(api, dir: dir)
      let session = try m.makeSession()
      var sampler = Sampler(SamplingOptions())  // top-k 40, top-p 0.95, min-p 0.05, T 0.8
      #expect(sampler.runsOnDevice(vocabularySize: m.config.vocabularySize))
      api.reset()
      _ = try session.evaluateSampled(token: 1, sampler: &sampler)  // eager
      let eager = api.launches
      #expect(eager.filter { $0 == "sample_f32" }.count == 1)
      #expect(eager.last == "sample_f32")
      #expect(!eager.contains("argmax_f32"))
      #expect(api.hostCopies == [4], "\(api.hostCopies)")
      api.reset()
      _ = try session.evaluateSampled(token: 2, sampler: &sampler)  // recorded, launched
      #expect(api.captured == eager)
      #expect(api.graphLaunches == 1 && api.launches.isEmpty)
      #expect(api.hostCopies == [4])
      api.reset()
      _ = try session.evaluateSampled(token: 3, sampler: &sampler)  // replayed
      #expect(api.graphLaunches == 1 && api.launches.isEmpty && api.captured.isEmpty)
      // The id alone: not the logits row (vocabulary × 4 bytes).
      #expect(api.hostCopies == [4], "\(api.hostCopies)")
    }
  }

  @Test func batchedSampledStepIsOneGraphReplayReturningTheIDs() throws {
    try withDirectory { dir in
      let api = RecordingVendorAPI()
      let m = try model(api, dir: dir)
      let sessions = try (0..<3).map { _ in try m.makeSession() }
      let decoder = try BatchDecoder(model: m, maxBatch: 4)
      var options = [SamplingOptions(), SamplingOptions(), SamplingOptions()]
      options[1].temperature = 0  // greedy rows ride along as temperature 0
      options[2].topK = 0
      options[2].repeatPenalty = 1.2
      var samplers = options.map { Sampler($0) }
      var tokens: [Int32] = [1, 2, 3]
      for step in 0..<3 {
        api.reset()
        tokens = try decoder.decodeSampled(sessions, tokens: tokens, samplers: &samplers)
        let kernels = step == 0 ? api.launches : api.captured
        if step == 0 { #expect(kernels.filter { $0 == "sample_f32" }.count == 1) }
        if step == 1 { #expect(api.captured.filter { $0 == "sample_f32" }.count == 1) }
        if step > 0 { #expect(api.graphLaunches == 1 && api.launches.isEmpty) }
        #expect(api.hostCopies == [12], "step \(step): \(api.hostCopies)")
      }
    }
  }

  /// The CPU samples on the host: its plans never hold the op, and a session there samples from
  /// its logits.
  @Test func cpuSessionsSampleOnTheHost() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
      "quanta-sampling-cpu-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let preset = try #require(PlanSelftest.presets.first { $0.architecture.rawValue == "llama" })
    let cpu = try BackendRegistry.makeStandard().backend(for: .cpu)
    #expect(!cpu.samplesOnDevice)
    // On the CPU both sides of the selftest's generation check are the host sampler: this runs its
    // harness (single session and BatchDecoder.decodeSampled's host path), not a device.
    let (failure, summary) = try SamplingSelftest.checkGeneration(preset: preset, dir: dir, device: cpu)
    #expect(failure == nil, "\(failure ?? "")")
    #expect(summary.contains("24 single-session steps"))
  }
}
