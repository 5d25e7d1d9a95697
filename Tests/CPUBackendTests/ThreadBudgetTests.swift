import QuantaCore
import Testing

@testable import CPUBackend

#if canImport(Glibc)
  import Glibc
#endif

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

  @Test func cgroupV1QuotaIsReadAndMinusOneMeansNoLimit() {
    #expect(CPUBackend.cgroupV1CPUQuota(quota: "-1\n", period: "100000\n") == nil)
    #expect(CPUBackend.cgroupV1CPUQuota(quota: "250000\n", period: "100000\n") == 3)
    #expect(CPUBackend.cgroupV1CPUQuota(quota: nil, period: "100000") == nil)
  }

  /// A worker that cannot be started (EAGAIN under a thread limit) is an error, not a pool that
  /// silently runs with fewer threads; the workers already started are joined.
  @Test func threadCreationFailureIsAnError() {
    var calls = 0
    do {
      _ = try ThreadPool(threadCount: 6) { thread, body, context in
        calls += 1
        return calls == 4 ? EAGAIN : pthread_create(thread, nil, body, context)
      }
      Issue.record("a failed pthread_create was not reported")
    } catch let error as QuantaError {
      guard case .invalidArgument(_, let reason) = error else {
        Issue.record("unexpected error \(error)")
        return
      }
      #expect(reason.hasPrefix("cannot start CPU thread 5 of 6 (4 running): "))
      #expect(reason.hasSuffix("; use fewer threads (-t)"))
    } catch {
      Issue.record("unexpected error \(error)")
    }
    #expect(calls == 4)
  }

  @Test func hostMemoryReadsMeminfoCgroupsAndLimits() {
    #expect(
      HostMemory.meminfoAvailable("MemTotal: 100 kB\nMemFree: 5 kB\nMemAvailable:   2048 kB\n") == 2_097_152)
    #expect(HostMemory.meminfoAvailable("MemTotal: 100 kB\n") == nil)
    #expect(HostMemory.cgroupPath("0::/user.slice/a.scope\n", controller: nil) == "/user.slice/a.scope")
    #expect(HostMemory.cgroupPath("0::/\n", controller: nil) == nil)
    #expect(
      HostMemory.cgroupPath("4:memory:/docker/abc\n3:cpu,cpuacct:/x\n", controller: "memory") == "/docker/abc"
    )
    #expect(HostMemory.cgroupPath("3:cpu,cpuacct:/x\n", controller: "cpuacct") == "/x")
    // v2: limit − usage + inactive file cache; "max" is no limit.
    #expect(
      HostMemory.cgroupHeadroom(
        limit: "1000000\n", usage: "600000\n", stat: "anon 500000\ninactive_file 100000\n",
        inactiveKey: "inactive_file") == 500_000)
    #expect(
      HostMemory.cgroupHeadroom(limit: "max\n", usage: "1", stat: nil, inactiveKey: "inactive_file") == nil)
    // v1's "unlimited" is a number near 2^63.
    #expect(
      HostMemory.cgroupHeadroom(
        limit: "9223372036854771712\n", usage: "1", stat: nil, inactiveKey: "total_inactive_file") == nil)
    let available = HostMemory.available()
    #expect(available != nil && available! > 0)
    let backend = try? CPUBackend()
    #expect(backend?.availableMemory != nil)
  }
}
