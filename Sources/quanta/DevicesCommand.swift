import ArgumentParser
import GPUBackend
import Quanta

/// `quanta devices`: the CPU (always) and every GPU found, per vendor with why none is usable.
struct Devices: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "devices",
    abstract: "List the CPU and every CUDA / ROCm device, or why a backend is unavailable.")

  func run() throws {
    do {
      let cpu = try BackendRegistry.standard.backend(for: .cpu).info
      let caps = cpu.capabilities.map(\.rawValue).sorted().joined(separator: ",")
      print("cpu  \(cpu.name)  \(cpu.architecture)  \(cpu.computeUnits) threads  [\(caps)]")
    } catch {
      print("cpu  unavailable: \(error)")
    }
    for report in GPUDevices.probeAll(libraries: CLIEnvironment.gpuConfiguration().libraries) {
      for line in GPUDevices.describe(report) { print(line) }
    }
  }
}
