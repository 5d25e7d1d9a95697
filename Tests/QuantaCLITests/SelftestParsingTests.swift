import ArgumentParser
import Testing

@testable import quanta

/// `quanta selftest` compares a GPU with the CPU reference: a CPU or unknown device is a usage error
/// (it once ran the plan part CPU against CPU and failed on a tolerance meant for GPUs).
@Suite struct SelftestParsingTests {
  @Test func gpuDevicesParse() throws {
    #expect(try Selftest.parse(["--device", "cuda:0"]).device == "cuda:0")
    #expect(try Selftest.parse(["--device", "rocm:1", "--only", "plans"]).only == "plans")
  }

  @Test func cpuAndUnknownDevicesAreUsageErrors() {
    for device in ["cpu", "metal", "tpu:0"] {
      do {
        _ = try Selftest.parse(["--device", device])
        Issue.record("--device \(device) parsed")
      } catch {
        #expect(Selftest.message(for: error).contains("cuda:N or rocm:N"), "\(Selftest.message(for: error))")
        #expect(Selftest.exitCode(for: error) != .success)
      }
    }
    #expect(throws: (any Error).self) { try Selftest.parse(["--device", "cuda:0", "--only", "some"]) }
  }
}
