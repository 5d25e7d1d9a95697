import QuantaCore
import Testing

@testable import CPUBackend

/// The CPU backend's thread budget (issue 17 §2): never more pool threads than usable CPUs.
@Suite("CPU thread budget")
struct ThreadBudgetTests {
  @Test func poolIsCappedAtTheUsableCPUs() throws {
    let usable = CPUBackend.availableCPUs
    #expect(usable >= 1)
    let backend = try CPUBackend(configuration: .init(threadCount: 10_000))
    #expect(backend.threadCount <= usable, "asked for 10000, got \(backend.threadCount) of \(usable) CPUs")
    #expect(throws: QuantaError.self) { try CPUBackend(configuration: .init(threadCount: 0)) }
  }

  @Test func cgroupQuotaIsRoundedUpAndMaxMeansNoLimit() {
    #expect(CPUBackend.cgroupCPUQuota("max 100000\n") == nil)
    #expect(CPUBackend.cgroupCPUQuota("200000 100000\n") == 2)
    #expect(CPUBackend.cgroupCPUQuota("150000 100000") == 2)
    #expect(CPUBackend.cgroupCPUQuota("50000 100000") == 1)
    #expect(CPUBackend.cgroupCPUQuota("") == nil)
    #expect(CPUBackend.cgroupCPUQuota(nil) == nil)
  }
}
