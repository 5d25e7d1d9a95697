import CPUBackend
import GGML
import GPUBackend
import QuantaCore

/// What `MatmulBenchmark` needs from a backend besides the inference contract (`ComputeBackend`).
///
/// Kept out of `ComputeBackend` so the contract a new backend implements holds only what inference
/// calls. The standard backends conform here (their methods live with each backend, in
/// `CPUBackend+Bench.swift` and `GPUBackend+Bench.swift`, since they need its internals); the
/// backends do not depend on this module.
public protocol MatmulBenchmarkBackend: ComputeBackend {
  /// The bandwidth the benchmark compares mat-vec rates with, in bytes per second: a streaming read
  /// with all threads on a CPU, a device-to-device copy on a GPU. `bytes` is larger than the
  /// device's last-level cache; `iterations` passes are timed.
  func measureReferenceBandwidth(bytes: Int, iterations: Int) throws -> Double
  /// Which kernel `matmul` runs for `type` under `options`, for the table's kernel column (e.g.
  /// "avx512_vnni·q8_0"). The default, "-", is for a backend that does not say.
  func matmulKernelName(for type: GGMLType, options: QMatMulOptions) -> String
}

extension MatmulBenchmarkBackend {
  public func matmulKernelName(for type: GGMLType, options: QMatMulOptions) -> String { "-" }
}

extension CPUBackend: MatmulBenchmarkBackend {}
extension GPUBackend: MatmulBenchmarkBackend {}
