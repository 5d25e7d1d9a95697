import ArgumentParser
import GPUBackend
import Quanta
import QuantaCore

/// `quanta selftest --device D`: the cross-backend suite on D against the CPU reference; one line
/// per case, a closing `N passed, N failed`, non-zero exit on any failure.
struct Selftest: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "selftest",
    abstract: "Check every op × type × ragged shape on a device against the CPU reference.")

  @Option(help: "Device: cuda:N or rocm:N.") var device: String

  func run() throws {
    let d = try Device(parsing: device)
    // The dense ops are compared with the CPU backend (the quantized cases with the reference codecs).
    let cpu = try BackendRegistry.standard.backend(for: .cpu)
    let result = GPUSelftest.run(device: d, reference: cpu) { print($0) }
    if result.failed > 0 || result.passed == 0 { throw ExitCode.failure }
  }
}
