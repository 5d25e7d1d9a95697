import Foundation
import GPUBackend
import QuantaDownload
import QuantaTools

/// The one place the CLI reads environment variables into configuration (DESIGN.md principle 7: the
/// libraries read none). QUANTA_CUDA_LIB, QUANTA_NVRTC_LIB, QUANTA_HIP_LIB, QUANTA_HIPRTC_LIB name
/// vendor libraries that replace the built-in search; QUANTA_CACHE/kernels holds compiled kernels
/// (else ~/.cache/quanta/kernels). An empty variable counts as unset.
enum CLIEnvironment {
  /// The GPU configuration for these flags and `environment`.
  static func gpuConfiguration(
    matrixCores: Bool = true, dependentLaunches: Bool = false,
    environment: [String: String] = ProcessInfo.processInfo.environment
  ) -> GPUBackend.Configuration {
    func value(_ name: String) -> String? {
      guard let v = environment[name], !v.isEmpty else { return nil }
      return v
    }
    return GPUBackend.Configuration(
      matrixCores: matrixCores, dependentLaunches: dependentLaunches,
      libraries: GPULibraryPaths(
        cudaDriver: value("QUANTA_CUDA_LIB"), nvrtc: value("QUANTA_NVRTC_LIB"),
        hipRuntime: value("QUANTA_HIP_LIB"), hiprtc: value("QUANTA_HIPRTC_LIB")),
      kernelCacheDirectory: value("QUANTA_CACHE").map {
        URL(fileURLWithPath: $0).appendingPathComponent("kernels")
      })
  }

  /// Model settings with llama.cpp's defaults and the GPU paths from the environment.
  static func modelSettings(environment: [String: String] = ProcessInfo.processInfo.environment)
    -> ModelSettings
  {
    var settings = ModelSettings()
    settings.gpuPaths = gpuConfiguration(environment: environment)
    settings.modelCache = ModelCache.directory(environment: environment)
    return settings
  }
}
