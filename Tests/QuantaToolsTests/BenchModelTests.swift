import Foundation
import Testing

@testable import QuantaQuantize
@testable import QuantaTools

/// `quanta bench model`'s statistics and table, and a tiny real run.
@Suite struct BenchModelTests {
  @Test func meanAndSampleStandardDeviation() {
    let r = ModelBench.Row(
      model: "m", sizeBytes: 0, parameters: 0, backend: "CPU", threads: 2, test: "pp8", samples: [10, 12, 14])
    #expect(r.mean == 12)
    #expect(r.standardDeviation == 2)  // sqrt((4 + 0 + 4) / 2)
  }

  @Test func tableHasLlamaBenchColumns() {
    let rows = [
      ModelBench.Row(
        model: "gemma3 270M Q4_K_M", sizeBytes: 253_113_024 - 6_000_000, parameters: 268_098_176,
        backend: "CPU",
        threads: 2, test: "pp128", samples: [700, 720])
    ]
    let lines = ModelBench.table(rows).split(separator: "\n")
    #expect(lines.count == 3)
    #expect(lines[0].hasPrefix("| model "))
    #expect(lines[0].hasSuffix("|                  t/s |"))
    #expect(lines[2].contains("| 235.67 MiB |"))
    #expect(lines[2].contains("|   268.10 M |"))
    #expect(lines[2].contains("| CPU        |       2 |           pp128 |"))
    #expect(lines[2].hasSuffix("710.00 ± 14.14 |"))
  }

  @Test func realModelRun() async throws {
    var s = ModelSettings()
    s.modelPath = try RunTestModels.gemma3()
    s.contextSize = 16
    s.threads = 2
    let model = try await s.loadModel().model
    #expect(ModelBench.describe(model) == "gemma3 270M Q4_K_M")
    let rows = try ModelBench.run(model: model, promptTokens: 8, generatedTokens: 2, repetitions: 2)
    #expect(rows.map(\.test) == ["pp8", "tg2"])
    for r in rows {
      #expect(r.samples.count == 2)
      #expect(r.samples.allSatisfy { $0 > 0 && $0.isFinite })
      #expect(r.threads == 2)
      #expect(r.backend == "CPU")
    }
    #expect(throws: QuantaToolError.self) {
      _ = try ModelBench.run(model: model, promptTokens: 8, generatedTokens: 2, repetitions: 0)
    }
  }
}
