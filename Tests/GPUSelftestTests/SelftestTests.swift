import CPUBackend
import GGML
import GPUBackend
import QuantaCore
import Testing

@testable import GPUSelftest

@Suite("GPU selftest without a device")
struct SelftestTests {
  /// On a machine without the device, selftest fails (non-zero) with the typed reason.
  @Test func selftestFailsWithTheTypedReason() {
    var lines: [String] = []
    let r = GPUSelftest.run(device: .rocm(0)) { lines.append($0) }
    #expect(r.passed == 0)
    #expect(r.failed == 1)
    #expect(lines.first?.contains("no AMD device") == true, "\(lines)")
  }

  /// The random blocks the suite uploads are well-formed: the reference dequantizes them to
  /// finite values for every type.
  @Test(arguments: KernelBuild.types)
  func randomBlocksDequantizeToFiniteValues(_ t: GGMLType) throws {
    let k = t.blockSize * 2
    let blocks = GPUSelftest.randomBlocks(t, rows: 3, k: k, seed: 7)
    #expect(blocks.count == 3 * k / t.blockSize * t.typeSize)
    let values = try t.dequantize(blocks, count: 3 * k)
    let allFinite = values.allSatisfy { $0.isFinite }
    #expect(allFinite)
    #expect(values.contains { $0 != 0 })
  }
}

@Suite("GPU selftest's gpt-oss cases on the CPU")
struct SelftestGptOssCaseTests {
  /// The cases are well-formed (shapes, ids, parameters the ops accept) and every one runs: with the
  /// CPU backend on both sides each compares equal, and the out-of-range id is the typed error. What
  /// the device computes is checked only where `quanta selftest --device` runs.
  @Test func gptOssCasesRunOnTheCPU() throws {
    let cpu = try CPUBackend()
    let cases = GPUSelftest.gptOssCases(cpu, cpu)
    #expect(cases.count == 4 * 3 + 2 + 2 + 2)
    for c in cases {
      let why = try c.body()
      #expect(why == nil, "\(c.name): \(why ?? "")")
    }
  }
}
