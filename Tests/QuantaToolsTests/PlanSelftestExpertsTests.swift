import Foundation
import QuantaCore
import QuantaTools
import Testing

@testable import CPUBackend

/// The mixture-of-experts plans of `quanta selftest` are well-formed and their routing is decisive:
/// run with the CPU's integer path (activations quantized to 8 bits, as a GPU's q8_1) against the
/// CPU's f32 reference, every step of the qwen3moe and Mixtral tiny shapes agrees at NMSE ≤ 5e-4. A
/// router near-tie that activation rounding flips would fail here too, so a failure on a device is
/// the device's.
@Suite struct PlanSelftestExpertsTests {
  @Test func expertPlansPassWithQuantizedActivations() throws {
    let cpu = try CPUBackend()
    var lines: [String] = []
    // One file per preset: the names (which name the files) differ, Mixtral's from llama's too.
    #expect(Set(PlanSelftest.presets.map(\.name)).count == PlanSelftest.presets.count)
    let presets = PlanSelftest.presets.filter { $0.expertCount > 0 }
    #expect(presets.count == 2)
    let result = PlanSelftest.run(device: cpu, cpu: cpu, presets: presets) { lines.append($0) }
    #expect(result.failed == 0, "\(lines.filter { $0.hasPrefix("FAIL") })")
    // Three weight types × fused/unfused with f16 caches, plus one case with rotated q8_0 caches.
    #expect(result.passed == 2 * (3 * 2 + 1))
  }
}
