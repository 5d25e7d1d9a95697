import Foundation
import Quanta
import QuantaCore
import Testing

@testable import QuantaTools

/// `quanta selftest`'s plan cases with q8_0 caches (where both sides rotate q/k/v and the attention
/// output): run with the CPU backend in both roles on every preset, each passes — the inputs and the
/// reference side work, so a failure on a GPU is the GPU's.
@Suite struct PlanSelftestCacheTests {
  @Test func quantizedCachePlanCasesAreWellFormed() throws {
    let cpu = try BackendRegistry.standard.backend(for: .cpu)
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("quanta-plan-cache-\(UUID())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    for preset in PlanSelftest.presets {
      let failure = try PlanSelftest.check(
        preset: preset, type: PlanSelftest.quantizedCacheWeights(preset), dir: dir, device: cpu, cpu: cpu,
        fusion: true, cache: .q8_0)
      #expect(failure == nil, "\(preset.name): \(failure ?? "")")
    }
  }
}
