import Foundation
import Quanta
import QuantaLM
import QuantaQuantize

/// `quanta bench model`: llama-bench's prompt-processing (`ppN`: N tokens in one batch from an
/// empty cache) and text-generation (`tgN`: N single-token decode steps from an empty cache)
/// tests, each repeated after a warm-up, reported as mean ± standard deviation of tokens/s.
public enum ModelBench {
  public struct Row: Sendable, Equatable {
    public var model: String
    public var sizeBytes: Int
    public var parameters: Int
    public var backend: String
    public var threads: Int
    public var test: String
    public var samples: [Double]

    public var mean: Double { samples.isEmpty ? 0 : samples.reduce(0, +) / Double(samples.count) }
    /// Sample standard deviation (n − 1), as llama-bench's `stdev`.
    public var standardDeviation: Double {
      guard samples.count > 1 else { return 0 }
      let m = mean
      return (samples.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(samples.count - 1)).squareRoot()
    }
  }

  /// llama-bench's model description: architecture, size label, file type (`gemma3 270M Q4_K_M`).
  public static func describe(_ model: LanguageModel) -> String {
    let m = model.file.metadata
    var parts = [model.config.architecture.rawValue]
    if let label = try? m.optionalString("general.size_label") { parts.append(label) }
    if let ft = try? m.optionalUInt32("general.file_type"), let type = LlamaFileType(rawValue: ft) {
      parts.append(type.name)
    }
    return parts.joined(separator: " ")
  }

  /// Runs the tests. `progress` sees each finished measurement (for a live line on stderr).
  /// `parallel` adds, for each count `B` > 1 in it, a `tgNxB` test: `B` sequences decoded together
  /// by a `BatchDecoder` (one forward pass per step for all of them), `N` steps from empty caches,
  /// reported as the aggregate tokens/s of all `B` (llama-batched-bench's S_TG).
  public static func run(
    model: LanguageModel, promptTokens: Int, generatedTokens: Int, repetitions: Int, parallel: [Int] = [],
    sampled: Bool = false, progress: (String, Double) -> Void = { _, _ in }
  ) throws -> [Row] {
    guard repetitions >= 1 else { throw QuantaToolError.invalidArgument("repetitions must be at least 1") }
    guard promptTokens >= 0, generatedTokens >= 0 else {
      throw QuantaToolError.invalidArgument("-p and -n must not be negative")
    }
    guard parallel.allSatisfy({ $0 >= 1 }) else {
      throw QuantaToolError.invalidArgument("parallel sequence counts must be at least 1")
    }
    let session = try model.makeSession()
    let vocabulary = model.config.vocabularySize
    let bos = model.tokenizer.vocabulary.bos ?? 0
    // Random ids as llama-bench uses; a fixed LCG so runs feed the same tokens.
    var state: UInt64 = 0x853C_49E6_748F_EA9B
    func randomToken() -> Int32 {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Int32((state >> 33) % UInt64(vocabulary))
    }
    let clock = ContinuousClock()
    func promptPass(_ n: Int) throws -> Double {
      session.reset()
      let tokens = [bos] + (1..<n).map { _ in randomToken() }
      let start = clock.now
      try session.evaluate(tokens: tokens)
      return seconds(clock.now - start)
    }
    func generation(_ n: Int) throws -> Double {
      session.reset()
      var token = bos
      let start = clock.now
      for _ in 0..<n {
        try session.evaluate(token: token)
        token = randomToken()
      }
      return seconds(clock.now - start)
    }
    let file = model.file
    let base = Row(
      model: describe(model), sizeBytes: file.tensors.reduce(0) { $0 + $1.byteCount },
      parameters: file.tensors.reduce(0) { $0 + $1.elementCount },
      backend: model.device.kind.rawValue.uppercased(),
      threads: (model.backend as? CPUBackend)?.threadCount ?? model.backend.info.computeUnits, test: "",
      samples: [])
    var rows: [Row] = []
    if promptTokens > 0 {
      _ = try promptPass(promptTokens)  // warm-up: pages mapped, kernels and buffers touched
      var row = base
      row.test = "pp\(promptTokens)"
      for _ in 0..<repetitions {
        let rate = Double(promptTokens) / max(try promptPass(promptTokens), 1e-9)
        row.samples.append(rate)
        progress(row.test, rate)
      }
      rows.append(row)
    }
    if generatedTokens > 0 {
      _ = try generation(2)  // warm-up: the first decode step runs eagerly, the second records the graph
      var row = base
      row.test = "tg\(generatedTokens)"
      for _ in 0..<repetitions {
        let rate = Double(generatedTokens) / max(try generation(generatedTokens), 1e-9)
        row.samples.append(rate)
        progress(row.test, rate)
      }
      rows.append(row)
    }
    if sampled && generatedTokens > 0 {
      // Decode fed by llama.cpp's default chain (top-k 40, top-p 0.95, min-p 0.05, T 0.8): on the
      // device where the backend samples there (only the id comes back), and on the host from the
      // copied logits, in the same run.
      func sampledGeneration(_ n: Int, onDevice: Bool) throws -> Double {
        session.reset()
        var sampler = Sampler(SamplingOptions())
        var token = bos
        let start = clock.now
        for _ in 0..<n {
          sampler.accept(token)
          if onDevice {
            token = try session.evaluateSampled(token: token, sampler: &sampler)
          } else {
            try session.evaluate(token: token)
            token = session.withLastLogits { sampler.sample($0) }
          }
        }
        return seconds(clock.now - start)
      }
      for onDevice in model.backend.samplesOnDevice ? [true, false] : [false] {
        _ = try sampledGeneration(2, onDevice: onDevice)
        var row = base
        row.test = "tg\(generatedTokens) sampled (\(onDevice ? "device" : "host"))"
        for _ in 0..<repetitions {
          let rate =
            Double(generatedTokens) / max(try sampledGeneration(generatedTokens, onDevice: onDevice), 1e-9)
          row.samples.append(rate)
          progress(row.test, rate)
        }
        rows.append(row)
      }
    }
    for b in parallel where b > 1 && generatedTokens > 0 {
      let sessions = [session] + (try (1..<b).map { _ in try model.makeSession() })
      let decoder = try BatchDecoder(model: model, maxBatch: b)
      func batched(_ n: Int) throws -> Double {
        for s in sessions { s.reset() }
        var tokens = [Int32](repeating: bos, count: b)
        let start = clock.now
        for _ in 0..<n {
          try decoder.decode(sessions, tokens: tokens)
          for i in 0..<b { tokens[i] = randomToken() }
        }
        return seconds(clock.now - start)
      }
      _ = try batched(2)
      var row = base
      row.test = "tg\(generatedTokens)x\(b)"
      for _ in 0..<repetitions {
        let rate = Double(generatedTokens * b) / max(try batched(generatedTokens), 1e-9)
        row.samples.append(rate)
        progress(row.test, rate)
      }
      rows.append(row)
    }
    return rows
  }

  /// Per-op device time of `steps` decode steps from an empty context (after one warm-up step).
  public static func profileDecode(model: LanguageModel, steps: Int) throws -> OpProfile {
    let session = try model.makeSession()
    let profile = OpProfile()
    session.profile = profile
    let bos = model.tokenizer.vocabulary.bos ?? 0
    try session.evaluate(token: bos)
    session.reset()
    profile.reset()
    for i in 0..<steps { try session.evaluate(token: Int32(i % model.config.vocabularySize)) }
    return profile
  }

  /// Per-op device time of `steps` batched decode steps of `sequences` sessions from an empty
  /// context (after one warm-up step): per step, every sequence's token.
  public static func profileBatchedDecode(model: LanguageModel, sequences: Int, steps: Int) throws
    -> OpProfile
  {
    let sessions = try (0..<sequences).map { _ in try model.makeSession() }
    let decoder = try BatchDecoder(model: model, maxBatch: sequences)
    let bos = model.tokenizer.vocabulary.bos ?? 0
    try decoder.decode(sessions, tokens: [Int32](repeating: bos, count: sequences))
    for s in sessions { s.reset() }
    let profile = OpProfile()
    decoder.profile = profile
    let vocab = model.config.vocabularySize
    for i in 0..<steps {
      try decoder.decode(sessions, tokens: (0..<sequences).map { Int32((i * sequences + $0) % vocab) })
    }
    return profile
  }

  /// Per-op device time of one `tokens`-token prompt from an empty context (after one warm-up prompt),
  /// as one "step".
  public static func profilePrompt(model: LanguageModel, tokens: Int) throws -> OpProfile {
    let session = try model.makeSession()
    let profile = OpProfile()
    let ids = (0..<tokens).map { Int32($0 % model.config.vocabularySize) }
    _ = try session.evaluate(tokens: ids)
    session.reset()
    session.profile = profile
    _ = try session.evaluate(tokens: ids)
    return profile
  }

  /// One row per op kind: calls and microseconds per step, share of the step.
  public static func profileTable(_ p: OpProfile, steps: Int) -> String {
    let total = max(p.total, 1e-12)
    var lines = ["| op (decode step) | calls/step | µs/step | % |", "| --- | ---: | ---: | ---: |"]
    for kind in OpKind.allCases where p.calls[kind.rawValue] > 0 {
      let s = p.seconds(kind)
      lines.append(
        "| \(kind) | \(String(format: "%.1f", Double(p.calls[kind.rawValue]) / Double(steps))) | "
          + "\(String(format: "%.1f", s / Double(steps) * 1e6)) | \(String(format: "%.1f", s / total * 100)) |"
      )
    }
    lines.append("| total | | \(String(format: "%.1f", total / Double(steps) * 1e6)) | 100 |")
    return lines.joined(separator: "\n") + "\n"
  }

  private static func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
  }

  /// The markdown table llama-bench prints.
  public static func table(_ rows: [Row]) -> String {
    func size(_ b: Int) -> String {
      b >= 1 << 30
        ? String(format: "%.2f GiB", Double(b) / 1_073_741_824)
        : String(format: "%.2f MiB", Double(b) / 1_048_576)
    }
    func params(_ n: Int) -> String {
      n >= 1_000_000_000
        ? String(format: "%.2f B", Double(n) / 1e9) : String(format: "%.2f M", Double(n) / 1e6)
    }
    func cell(_ s: String, _ w: Int, right: Bool) -> String {
      let pad = String(repeating: " ", count: max(0, w - s.count))
      return right ? pad + s : s + pad
    }
    let widths = [30, 10, 10, 10, 7, 15, 20]
    let right = [false, true, true, false, true, true, true]
    func line(_ cells: [String]) -> String {
      "| " + zip(cells, zip(widths, right)).map { cell($0, $1.0, right: $1.1) }.joined(separator: " | ")
        + " |\n"
    }
    var out = line(["model", "size", "params", "backend", "threads", "test", "t/s"])
    out +=
      "| "
      + zip(widths, right).map { w, r in String(repeating: "-", count: w - 1) + (r ? ":" : "-") }
      .joined(separator: " | ") + " |\n"
    for r in rows {
      out += line([
        r.model, size(r.sizeBytes), params(r.parameters), r.backend, "\(r.threads)", r.test,
        String(format: "%.2f ± %.2f", r.mean, r.standardDeviation),
      ])
    }
    return out
  }
}
