import ArgumentParser
import GPUBackend
import GPUSelftest
import Quanta
import QuantaCore
import QuantaTools

/// `quanta selftest --device D`: the cross-backend suite on D against the CPU reference; one line
/// per case, a closing `N passed, N failed`, non-zero exit on any failure.
struct Selftest: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "selftest",
    abstract: "Check every op × type × ragged shape on a device against the CPU reference.")

  @Option(help: "Device: cuda:N or rocm:N.") var device: String
  @Option(
    help: "Which part: all, ops (every op × type × shape) or plans (forward plans of every architecture).")
  var only: String = "all"

  func validate() throws {
    // The CPU is the reference every case compares with; its own checks are the test suite.
    guard let d = try? Device(parsing: device), d.kind == .cuda || d.kind == .rocm else {
      throw ValidationError(
        "selftest checks a GPU (cuda:N or rocm:N) against the CPU reference; \(device) is not one")
    }
    guard ["all", "ops", "plans"].contains(only) else {
      throw ValidationError("--only must be all, ops or plans, not \(only)")
    }
  }

  func run() throws {
    let d = try Device(parsing: device)
    // The dense ops are compared with the CPU backend (the quantized cases with the reference codecs).
    let gpuConfiguration = CLIEnvironment.gpuConfiguration()
    let registry = BackendRegistry.makeStandard(gpu: gpuConfiguration)
    let cpu = try registry.backend(for: .cpu)
    var passed = 0, failed = 0
    if only != "plans" {
      let result = GPUSelftest.run(device: d, reference: cpu, configuration: gpuConfiguration) { print($0) }
      passed += result.passed
      failed += result.failed
    }
    if only != "ops" {
      let gpu = try registry.backend(for: d)
      let result = PlanSelftest.run(device: gpu, cpu: cpu) { print($0) }
      print("plans: \(result.passed) passed, \(result.failed) failed")
      passed += result.passed
      failed += result.failed
      if gpu.samplesOnDevice {
        let sampling = SamplingSelftest.run(device: gpu) { print($0) }
        print("sampling: \(sampling.passed) passed, \(sampling.failed) failed")
        passed += sampling.passed
        failed += sampling.failed
      }
    }
    print("total: \(passed) passed, \(failed) failed")
    if failed > 0 || passed == 0 { throw ExitCode.failure }
  }
}
