import Foundation
import GGUF
import QuantaCore
import QuantaLM
import QuantaSynth
import QuantaTools
import Testing

@testable import GPUBackend

/// A vendor layer that runs nothing and records what the host issues (kernel names, graph
/// captures and launches): what a GPU plan launches, checked without a GPU.
final class RecordingVendorAPI: VendorAPI, @unchecked Sendable {
  // @unchecked: every mutable field is guarded by `lock`.
  let vendor = GPUVendor.cuda
  let versionDescription = "recording (no GPU)"
  private let lock = NSLock()
  private var nextHandle: UInt = 0x1000
  private var nextAddress: UInt64 = 0x10_0000
  private var names: [UInt: String] = [:]
  private var capturing = false
  private var _launches: [String] = []
  private var _captured: [String] = []
  private var _graphLaunches = 0
  private var _hostCopies: [Int] = []

  var launches: [String] { lock.withLock { _launches } }
  var captured: [String] { lock.withLock { _captured } }
  var graphLaunches: Int { lock.withLock { _graphLaunches } }
  /// Bytes of each device-to-host copy.
  var hostCopies: [Int] { lock.withLock { _hostCopies } }
  func reset() {
    lock.withLock {
      _launches = []; _captured = []; _graphLaunches = 0; _hostCopies = []
    }
  }

  private func handle() -> VendorHandle {
    lock.withLock {
      nextHandle += 16
      return VendorHandle(nextHandle)
    }
  }
  func deviceCount() throws(GPUError) -> Int { 1 }
  func properties(device: Int) throws(GPUError) -> GPUDeviceProperties {
    GPUDeviceProperties(
      index: 0, name: "recording", architecture: "sm_90", targetID: "sm_90", totalMemory: 80 << 30,
      multiprocessors: 132, warpSize: 32, l2CacheBytes: 50 << 20, maxThreadsPerBlock: 1024)
  }
  func activate(device: Int) throws(GPUError) {}
  func memoryInfo() throws(GPUError) -> (free: Int, total: Int) { (80 << 30, 80 << 30) }
  func allocate(bytes: Int) throws(GPUError) -> DevicePointer {
    lock.withLock {
      defer { nextAddress += UInt64((bytes + 255) / 256 * 256) }
      return DevicePointer(nextAddress)
    }
  }
  func free(_ pointer: DevicePointer) throws(GPUError) {}
  func copyToDevice(_ dst: DevicePointer, from src: UnsafeRawPointer, bytes: Int, stream: VendorHandle)
    throws(GPUError)
  {}
  func copyToHost(_ dst: UnsafeMutableRawPointer, from src: DevicePointer, bytes: Int, stream: VendorHandle)
    throws(GPUError)
  {
    lock.withLock { _hostCopies.append(bytes) }
    dst.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
  }
  func copyOnDevice(_ dst: DevicePointer, from src: DevicePointer, bytes: Int, stream: VendorHandle)
    throws(GPUError)
  {}
  func memset(_ dst: DevicePointer, value: UInt8, bytes: Int, stream: VendorHandle) throws(GPUError) {}
  func createStream() throws(GPUError) -> VendorHandle { handle() }
  func destroyStream(_ stream: VendorHandle) {}
  func synchronize(stream: VendorHandle) throws(GPUError) {}
  func createEvent() throws(GPUError) -> VendorHandle { handle() }
  func destroyEvent(_ event: VendorHandle) {}
  func record(event: VendorHandle, stream: VendorHandle) throws(GPUError) {}
  func elapsedMilliseconds(from start: VendorHandle, to end: VendorHandle) throws(GPUError) -> Float { 0 }
  func compile(source: String, name: String, architecture: String, options: [String]) throws(GPUError)
    -> CodeObject
  { CodeObject(architecture: architecture, bytes: [0]) }
  func compilerTargets() -> [String]? { nil }
  func loadModule(_ code: CodeObject) throws(GPUError) -> VendorHandle { handle() }
  func unloadModule(_ module: VendorHandle) {}
  func function(_ module: VendorHandle, named: String) throws(GPUError) -> VendorHandle {
    let h = handle()
    lock.withLock { names[h.raw] = named }
    return h
  }
  func launch(
    _ function: VendorHandle, grid: (Int, Int, Int), block: (Int, Int, Int), sharedBytes: Int,
    stream: VendorHandle, arguments: UnsafeMutablePointer<UnsafeMutableRawPointer?>
  ) throws(GPUError) {
    lock.withLock {
      let name = names[function.raw] ?? "?"
      if capturing { _captured.append(name) } else { _launches.append(name) }
    }
  }
  func beginCapture(stream: VendorHandle) throws(GPUError) { lock.withLock { capturing = true } }
  func endCapture(stream: VendorHandle) throws(GPUError) -> VendorHandle {
    lock.withLock { capturing = false }
    return handle()
  }
  func launchGraph(_ graph: VendorHandle, stream: VendorHandle) throws(GPUError) {
    lock.withLock { _graphLaunches += 1 }
  }
  func destroyGraph(_ graph: VendorHandle) {}
  func isSticky(_ error: GPUError) -> Bool { false }
}

/// What a GPU decode plan issues: one graph recorded on the first step and replayed after, and the
/// fused kernels in place of the op chains they replace (llama and gemma3 layers).
@Suite("GPU plan fusion (recording vendor, no GPU)")
struct PlanFusionTests {
  /// A synthetic `arch` model on a recording GPU; `body` runs while its files exist.
  func withModel<R>(
    arch: String, preset: String, fusion: Bool, cache: KVCacheType = .f16, rotation: Bool = true,
    shortRows: Bool = true, tails: Bool = true,
    _ body: (LanguageModel, RecordingVendorAPI, _ layers: Int) throws -> R
  ) throws -> R {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
      "quanta-fusion-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    var p = try #require(PlanSelftest.presets.first { $0.architecture.rawValue == arch })
    p.name = preset
    let path = dir.appendingPathComponent("m.gguf").path
    _ = try SynthModel.write(
      SynthOptions(preset: p, target: try SynthTarget(argument: "Q4_0"), outputPath: path))
    let api = RecordingVendorAPI()
    let gpu = try GPUBackend(
      device: .cuda(0), api: api, cache: KernelCache(directory: dir),
      configuration: GPUBackend.Configuration(shortRowMatVec: shortRows, matVecTails: tails))
    var options = ModelLoadOptions(contextLength: 32, batchSize: 32)
    options.fusion = fusion
    options.keyCacheType = cache
    options.valueCacheType = cache
    options.attentionRotation = rotation
    let model = try LanguageModel(file: try GGUFFile(path: path), backend: gpu, options: options)
    return try body(model, api, p.layerCount)
  }

  func decodeKernels(
    arch: String, preset: String, fusion: Bool, cache: KVCacheType = .f16, rotation: Bool = true,
    shortRows: Bool = true, tails: Bool = true
  ) throws -> (
    captured: [String], launchesAfter: [String], graphLaunches: Int, layers: Int
  ) {
    try withModel(
      arch: arch, preset: preset, fusion: fusion, cache: cache, rotation: rotation, shortRows: shortRows,
      tails: tails
    ) {
      model, api, layers in
      try decodeKernels(model, api, layers: layers)
    }
  }

  func decodeKernels(_ model: LanguageModel, _ api: RecordingVendorAPI, layers: Int) throws -> (
    captured: [String], launchesAfter: [String], graphLaunches: Int, layers: Int
  ) {
    let session = try model.makeSession()
    api.reset()
    try session.evaluate(token: 1)  // eager: loads and resolves every kernel
    let eager = api.launches
    #expect(api.graphLaunches == 0 && api.captured.isEmpty)
    api.reset()
    try session.evaluate(token: 2)  // records the graph, launches it
    let captured = api.captured
    #expect(api.graphLaunches == 1 && api.launches.isEmpty)
    // The graph holds exactly the kernels the eager step launched.
    #expect(captured == eager)
    api.reset()
    try session.evaluate(token: 3)  // replays it
    return (captured, api.launches, api.graphLaunches, layers)
  }

  /// Batched decode of three sequences: each layer writes every sequence's K and V rows with one
  /// launch per cache and attends with one launch (GPUPlanSequences.swift), where without fusion
  /// each sequence has its own; the output projection's q8_1 input comes from the attention kernel.
  @Test func batchedDecodeWritesAndAttendsOnceForAllSequences() throws {
    for (fusion, cache) in [(true, KVCacheType.f16), (true, .q8_0), (false, .f16)] {
      let (kernels, layers) = try withModel(
        arch: "llama", preset: "fusion-batch-\(fusion)-\(cache)", fusion: fusion, cache: cache,
        rotation: false
      ) { model, api, layers in
        let sessions = try (0..<3).map { _ in try model.makeSession() }
        for (i, s) in sessions.enumerated() { try s.evaluate(tokens: Array(repeating: 1, count: i + 2)) }
        let decoder = try BatchDecoder(model: model, maxBatch: 4)
        try decoder.decode(sessions, tokens: [1, 2, 3])  // eager
        api.reset()
        try decoder.decode(sessions, tokens: [1, 2, 3])
        return (api.captured + api.launches, layers)
      }
      let count = { (name: String) in kernels.filter { $0 == name }.count }
      let perLayer = fusion ? 1 : 3
      let (write, attend) =
        cache == .f16
        ? ("write_kv_f16", "attention_f16") : ("write_kv_q8_0", fusion ? "attention_kv_seq" : "attention_kv")
      #expect(count(write) == 2 * perLayer * layers, "\(fusion) \(cache): \(kernels)")
      #expect(count(attend) == perLayer * layers, "\(fusion) \(cache): \(kernels)")
      if fusion && cache == .f16 {
        // The output projection reads the q8_1 rows the attention wrote: no quantize launch before it.
        #expect(count("quantize_q8_1") == 0, "\(kernels)")
      }
    }
  }

  /// With the short-row mat-vec (the test model's rows are short) and its tails, the attention output
  /// and FFN down projections run their row chains (residual add + next norm) as their tails and the
  /// GLU as ffn_down's head; without either, those are launches of their own.
  @Test(arguments: [(true, true), (true, false), (false, true)])
  func llamaDecodeIsOneGraphOfFusedKernels(shortRowMatVec: Bool, tails: Bool) throws {
    let r = try decodeKernels(
      arch: "llama", preset: "fusion-llama-\(shortRowMatVec)-\(tails)", fusion: true,
      shortRows: shortRowMatVec, tails: tails)
    let shortRows = shortRowMatVec && tails  // the fused neighbours
    #expect(r.graphLaunches == 1)
    #expect(r.launchesAfter.isEmpty, "a replayed step launches kernels outside its graph: \(r.launchesAfter)")
    let count = { (name: String) in r.captured.filter { $0 == name }.count }
    // Nothing the fused kernels replace is left in the step.
    for plain in ["rms_norm_f32", "add_f32", "write_kv_f16", "swiglu_f32"] {
      #expect(count(plain) == 0, "\(plain) launched \(count(plain)) times: \(r.captured)")
    }
    // q: rope alone, and k: rope + K/V cache write, in one launch.
    #expect(count("rope_norm_kv_f32") == r.layers)
    #expect(count("rope_f32") == 0)
    // The GLU: ffn_down's head with short rows (each CTA quantizes it), else a launch writing its q8_1.
    #expect(count("glu_q8_1") == (shortRows ? 0 : r.layers))
    // No separate quantization: norm chains, the GLU and attention write their outputs as q8_1 too.
    #expect(count("quantize_q8_1") == 0, "\(r.captured)")
    // Norm chains: the first attention norm, then (add + norm) twice per layer: after attn_output and
    // after ffn_down, as those mat-vecs' tails with short rows.
    let tails = r.captured.filter { $0.hasSuffix("_1_short_chain") }
    #expect(tails.count == (shortRows ? 2 * r.layers : 0), "\(r.captured)")
    #expect(count("fused_norm_add_norm_q8_1") == (shortRows ? 1 : 2 * r.layers + 1))
    // Mat-vec launches: q/k/v share one, gate/up one, then attn_output and ffn_down; and the logits.
    let matVecs = r.captured.filter { $0.hasPrefix("mul_mat_vec") }
    #expect(matVecs.count == 4 * r.layers + 1, "\(matVecs)")
    #expect(matVecs.allSatisfy { $0.contains("_short") } == shortRowMatVec, "\(matVecs)")
  }

  @Test func gemma3DecodeFusesNormRopeScaleAndCacheWrite() throws {
    let r = try decodeKernels(arch: "gemma3", preset: "fusion-gemma3", fusion: true)
    let count = { (name: String) in r.captured.filter { $0 == name }.count }
    for plain in ["rms_norm_f32", "add_f32", "write_kv_f16", "geglu_f32", "rope_f32"] {
      #expect(count(plain) == 0, "\(plain) launched \(count(plain)) times: \(r.captured)")
    }
    #expect(count("scale_f32") == 1, "the embedding scale only: \(r.captured)")
    #expect(count("quantize_q8_1") == 0, "\(r.captured)")
    // q: norm + rope + scale, and k: norm + rope + cache, in one launch.
    #expect(count("rope_norm_kv_f32") == r.layers)
    // q/k/v and gate/up share a mat-vec launch each.
    #expect(r.captured.filter { $0.hasPrefix("mul_mat_vec") }.count == 4 * r.layers + 1)
    #expect(count("glu_q8_1") == 0, "the GELU is ffn_down's head: \(r.captured)")
    // Post-attention norm + residual + FFN norm, and post-FFN norm + residual + the next attention norm:
    // the tails of attn_output and ffn_down (short rows); the first attention norm (with its q8_1) is the
    // one fused_norm_add_norm_q8_1 launch left.
    #expect(r.captured.filter { $0.hasSuffix("_1_short_chain") }.count == 2 * r.layers, "\(r.captured)")
    #expect(count("fused_norm_add_norm_q8_1") == 1, "\(r.captured)")
  }

  /// Quantized caches: llama.cpp's rotation is four Hadamard launches per layer (q, k, v, the
  /// attention output) inside the step's graph, none with LLAMA_ATTN_ROT_DISABLE's option off;
  /// the caches are written by their own kernels and read by attention_kv either way.
  @Test func quantizedCachesRotateInsideTheGraph() throws {
    for rotation in [true, false] {
      let r = try decodeKernels(
        arch: "llama", preset: "fusion-q4_0-\(rotation)", fusion: true, cache: .q4_0, rotation: rotation)
      let count = { (name: String) in r.captured.filter { $0 == name }.count }
      #expect(r.graphLaunches == 1 && r.launchesAfter.isEmpty)
      #expect(count("hadamard_f32") == (rotation ? 4 * r.layers : 0), "\(r.captured)")
      #expect(count("write_kv_q4_0") == 2 * r.layers)
      #expect(count("attention_kv") == r.layers)
      #expect(count("write_kv_f16") == 0)
    }
  }

  @Test func withoutFusionEveryOpIsItsOwnKernel() throws {
    let r = try decodeKernels(arch: "llama", preset: "fusion-off", fusion: false)
    let count = { (name: String) in r.captured.filter { $0 == name }.count }
    #expect(count("fused_norm_add_norm_q8_1") == 0)
    #expect(count("rms_norm_f32") == 2 * r.layers + 1)
    #expect(count("write_kv_f16") == 2 * r.layers)
    #expect(r.captured.filter { $0.hasPrefix("mul_mat_vec") }.count == 7 * r.layers + 1)  // one per matmul
  }
}
