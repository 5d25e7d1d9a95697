import Foundation
import GGUF
import QuantaCore
import QuantaLM
import QuantaSynth

/// The device-sampling part of `quanta selftest`: the device's `.sample` op (sample.cu) against the
/// host's `Sampler` on the same logits, options, penalty window and uniform, and generation that
/// samples on the device against the same sessions sampling on the host.
///
/// The device must pick the host's token, or give the row back (−1) only where `DeviceSampling`
/// says it may (a top-p / min-p prefix without top-k longer than its candidates). A different
/// pick passes only when the uniform lies within 1e-5 of a cumulative boundary of the host's
/// distribution (sums in another order: sample.cu's note); such picks are counted in the line.
public enum SamplingSelftest {
  /// The option sets the kernel cases cycle through, with their labels.
  static var optionSets: [(label: String, options: SamplingOptions)] {
    func make(_ body: (inout SamplingOptions) -> Void) -> SamplingOptions {
      var o = SamplingOptions()
      body(&o)
      return o
    }
    return [
      ("llama.cpp defaults: top-k 40, top-p 0.95, min-p 0.05, T 0.8", SamplingOptions()),
      ("top-k 1", make { $0.topK = 1 }),
      (
        "top-k 256 alone, T 1",
        make { o in
          o.topK = 256; o.topP = 1; o.minP = 0; o.temperature = 1
        }
      ),
      (
        "top-k 100, top-p 0.6, T 1.7",
        make { o in
          o.topK = 100; o.topP = 0.6; o.minP = 0; o.temperature = 1.7
        }
      ),
      (
        "top-p 0.9 alone, T 0.7",
        make { o in
          o.topK = 0; o.topP = 0.9; o.minP = 0; o.temperature = 0.7
        }
      ),
      (
        "min-p 0.2 alone, T 1.5",
        make { o in
          o.topK = 0; o.topP = 1; o.minP = 0.2; o.temperature = 1.5
        }
      ),
      ("top-p 0.95 + min-p 0.05, no top-k", make { $0.topK = 0 }),
      (
        "penalties 1.3 / 0.1 / 0.25 over 64, defaults",
        make { o in
          o.repeatPenalty = 1.3; o.frequencyPenalty = 0.1; o.presencePenalty = 0.25
        }
      ),
      (
        "greedy after penalties",
        make { o in
          o.temperature = 0; o.repeatPenalty = 1.3; o.frequencyPenalty = 0.1; o.presencePenalty = 0.25
        }
      ),
    ]
  }

  /// The vocabulary sizes of the kernel cases: one CTA, ragged CTAs, Llama's and Gemma 3's.
  static let vocabularySizes = [37, 4097, 32000, 262_144]

  /// Runs every case on `device`; one line per case through `log`.
  public static func run(device: any ComputeBackend, log: (String) -> Void) -> PlanSelftest.Result {
    var result = PlanSelftest.Result()
    func record(_ name: String, _ body: () throws -> String?) {
      do {
        if let failure = try body() {
          result.failed += 1
          log("FAIL \(name): \(failure)")
        } else {
          result.passed += 1
        }
      } catch {
        result.failed += 1
        log("FAIL \(name): \(error)")
      }
    }
    for n in vocabularySizes {
      for (label, options) in optionSets {
        let name = "sample \(n) logits [\(label)] on \(device.device) vs host sampler"
        record(name) {
          let (failure, summary) = try checkKernel(device: device, vocabularySize: n, options: options)
          if failure == nil { log("ok   \(name): \(summary)") }
          return failure
        }
      }
    }
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
      "quanta-sampling-selftest-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    for preset in PlanSelftest.presets.prefix(2) {
      let arch = preset.architecture.rawValue
      let name = "sampled decode \(arch) Q4_K_M on \(device.device): device sampler vs host sampler"
      record(name) {
        let (failure, summary) = try checkGeneration(preset: preset, dir: dir, device: device)
        if failure == nil { log("ok   \(name): \(summary)") }
        return failure
      }
    }
    return result
  }

  /// Rows of random logits (sharp, flat, tied, spiky) through a one-op plan: 8 launches of 4 rows.
  static func checkKernel(device: any ComputeBackend, vocabularySize n: Int, options: SamplingOptions) throws
    -> (failure: String?, summary: String)
  {
    let rows = 4
    let words = DeviceSampling.recordWords
    let logits = try Tensor.zeros(shape: [rows, n], on: device)
    let records = try IndexTensor(buffer: device.allocate(byteCount: 4 * rows * words), count: rows * words)
    let out = try IndexTensor(buffer: device.allocate(byteCount: 4 * rows), count: rows)
    var plan = ForwardPlan(inputs: records)
    plan.append(.sample(logits: logits, records: records, out: out))
    let prepared = try device.prepare(plan, options: PlanOptions(replayed: false))
    var rng = SplitMix64(seed: UInt64(n) &* 31 &+ UInt64(options.topK &+ 1000))
    func uniform() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
    func normal() -> Float {
      Float(sqrt(-2 * log(uniform() + 1e-12)) * cos(2 * Double.pi * uniform()))
    }
    var near = 0, givenBack = 0, draws = 0
    for rep in 0..<8 {
      var host = [Float](repeating: 0, count: rows * n)
      var input = [Int32](repeating: 0, count: rows * words)
      var hostSamplers: [Sampler] = []
      var uniforms: [Double] = []
      for r in 0..<rows {
        let kind = (rep + r) % 4
        for j in 0..<n {
          var v = normal()
          switch kind {
          case 0: v *= 4
          case 1: v *= 0.3
          case 2: v = (v * 4).rounded() / 2
          default: break
          }
          host[r * n + j] = v
        }
        if kind == 3 { for i in 0..<5 { host[r * n + Int(rng.next() % UInt64(n))] = 12 + Float(i) / 2 } }
        var seeded = options
        seeded.seed = rng.next()
        var sampler = Sampler(seeded)
        // A window among the row's 48 best tokens, with repeats: the penalties move candidates.
        let best = (0..<n).sorted { host[r * n + $0] > host[r * n + $1] }.prefix(48)
        for _ in 0..<64 {
          sampler.accept(Int32(best[best.startIndex + Int(rng.next() % UInt64(best.count))]))
        }
        let copy = sampler
        guard
          let u = input.withUnsafeMutableBufferPointer({
            sampler.fillDeviceRecord(
              UnsafeMutableBufferPointer(rebasing: $0[(r * words)..<((r + 1) * words)]))
          })
        else { return ("the record of a 64-token window was refused", "") }
        hostSamplers.append(copy)
        uniforms.append(u)
      }
      try host.withUnsafeBytes { try device.copy($0, to: logits.buffer, at: logits.byteOffset) }
      try input.withUnsafeBufferPointer { try prepared.execute(inputs: $0) }
      var ids = [Int32](repeating: 0, count: rows)
      try ids.withUnsafeMutableBytes { try device.copy(out.buffer, at: out.byteOffset, to: $0) }
      for r in 0..<rows {
        draws += 1
        let raw = Array(host[(r * n)..<((r + 1) * n)])
        var check = hostSamplers[r]
        let want = check.sample(raw)
        if ids[r] == want { continue }
        let prefixChain = !(options.topK > 0 && options.topK < n) && options.temperature > 0
        if ids[r] == -1 {
          guard prefixChain else {
            return ("row \(r) of launch \(rep) given back (−1) with top-k \(options.topK)", "")
          }
          givenBack += 1
          continue
        }
        // Near a boundary of the host's cumulative distribution?
        var d = hostSamplers[r]
        let dist = d.distribution(raw)
        var cumulative = 0.0
        var margin = 1.0
        for p in dist {
          cumulative += Double(p.probability)
          margin = min(margin, abs(cumulative - uniforms[r]))
        }
        if margin < 1e-5 {
          near += 1
          continue
        }
        return (
          "row \(r) of launch \(rep): device \(ids[r]), host \(want) (uniform \(uniforms[r]), margin \(margin))",
          ""
        )
      }
    }
    return (nil, "\(draws) rows, \(near) near-boundary, \(givenBack) given back (−1)")
  }

  /// Two sessions on the device decode the same tokens: one samples on the device
  /// (`Session.evaluateSampled`), the other brings the logits back and samples on the host, each
  /// with a sampler of the same seed and options; then three sessions step together through
  /// `BatchDecoder.decodeSampled`, each with its own options, against host samplers on their logits.
  static func checkGeneration(preset: SynthPreset, dir: URL, device: any ComputeBackend) throws
    -> (failure: String?, summary: String)
  {
    let path = dir.appendingPathComponent("\(preset.name)-sampling.gguf").path
    if !FileManager.default.fileExists(atPath: path) {
      _ = try SynthModel.write(
        SynthOptions(preset: preset, target: try SynthTarget(argument: "Q4_K_M"), seed: 7, outputPath: path))
    }
    let model = try LanguageModel(
      file: try GGUFFile(path: path), backend: device,
      options: ModelLoadOptions(contextLength: 128, batchSize: 64))
    let vocab = model.config.vocabularySize
    var options = SamplingOptions()
    options.temperature = 1.2
    options.repeatPenalty = 1.2
    options.seed = 5
    let prompt: [Int32] = (0..<12).map { Int32(($0 * 97 + 5) % vocab) }
    let onDevice = try model.makeSession()
    let onHost = try model.makeSession()
    var deviceSampler = Sampler(options)
    var hostSampler = Sampler(options)
    guard deviceSampler.runsOnDevice(vocabularySize: vocab) else {
      return ("the chain does not run on the device", "")
    }
    for t in prompt {
      deviceSampler.accept(t)
      hostSampler.accept(t)
    }
    try onDevice.evaluate(tokens: prompt)
    let first = try onHost.evaluate(tokens: prompt)
    var next = hostSampler.sample(first)
    _ = deviceSampler.sample(first)
    var mismatches = 0
    let steps = 24
    for _ in 0..<steps {
      deviceSampler.accept(next)
      hostSampler.accept(next)
      let a = try onDevice.evaluateSampled(token: next, sampler: &deviceSampler)
      try onHost.evaluate(token: next)
      let b = onHost.withLastLogits { hostSampler.sample($0) }
      if a != b { mismatches += 1 }
      next = b
    }
    // One mismatch in 24 draws would be a boundary case of probability ~1e-5: none is expected.
    if mismatches > 0 { return ("\(mismatches) of \(steps) steps picked another token than the host", "") }
    // Batched: three sessions, three option sets.
    let decoder = try BatchDecoder(model: model, maxBatch: 4)
    var sets = [SamplingOptions(), options, SamplingOptions()]
    sets[2].topK = 0
    sets[2].topP = 0.9
    sets[2].temperature = 0.6
    let sessions = try (0..<3).map { _ in try model.makeSession() }
    var samplers = sets.map { Sampler($0) }
    var hosts = samplers
    var tokens: [Int32] = []
    for (i, s) in sessions.enumerated() {
      let p = prompt.map { ($0 + Int32(i) * 3) % Int32(vocab) }
      for t in p {
        samplers[i].accept(t)
        hosts[i].accept(t)
      }
      let l = try s.evaluate(tokens: p)
      tokens.append(hosts[i].sample(l))
      _ = samplers[i].sample(l)
    }
    var batchMismatches = 0
    for _ in 0..<8 {
      for i in 0..<3 {
        samplers[i].accept(tokens[i])
        hosts[i].accept(tokens[i])
      }
      let ids = try decoder.decodeSampled(sessions, tokens: tokens, samplers: &samplers)
      // The host's picks: the same step again as a logits step at the same positions (the cache
      // rows are written again with the same values), sampled on the host.
      var want: [Int32] = []
      for s in sessions { s.truncate(to: s.position - 1) }
      try decoder.decode(sessions, tokens: tokens)
      for i in 0..<3 { want.append(sessions[i].withLastLogits { hosts[i].sample($0) }) }
      batchMismatches += zip(ids, want).filter { $0 != $1 }.count
      tokens = want
    }
    if batchMismatches > 0 { return ("batched: \(batchMismatches) of 24 picks differ from the host's", "") }
    return (nil, "\(steps) single-session steps and 8 batched steps of 3 sessions pick the host's tokens")
  }
}
