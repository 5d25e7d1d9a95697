import Foundation
import GPUBackend
import Quanta
import QuantaTools
import Testing

@testable import quanta

/// DESIGN.md principle 7: the CLI maps QUANTA_*_LIB and QUANTA_CACHE into configuration values;
/// the GPU backend reads no environment itself.
@Suite struct CLIEnvironmentTests {
  @Test func librariesAndKernelCacheComeFromTheVariables() {
    let env = [
      "QUANTA_CUDA_LIB": "/opt/a/libcuda.so.1", "QUANTA_NVRTC_LIB": "/opt/a/libnvrtc.so",
      "QUANTA_HIP_LIB": "/opt/b/libamdhip64.so", "QUANTA_HIPRTC_LIB": "/opt/b/libhiprtc.so",
      "QUANTA_CACHE": "/tmp/qc",
    ]
    let c = CLIEnvironment.gpuConfiguration(matrixCores: false, dependentLaunches: true, environment: env)
    #expect(c.libraries.cudaDriver == "/opt/a/libcuda.so.1")
    #expect(c.libraries.nvrtc == "/opt/a/libnvrtc.so")
    #expect(c.libraries.hipRuntime == "/opt/b/libamdhip64.so")
    #expect(c.libraries.hiprtc == "/opt/b/libhiprtc.so")
    #expect(c.kernelCacheDirectory?.path == "/tmp/qc/kernels")
    #expect(c.matrixCores == false && c.dependentLaunches == true)
  }

  /// QUANTA_SMALL_BATCH_MMQ=0 (the A/B switch for batched decode) turns the small-batch mat-mat off.
  @Test func smallBatchMatMatSwitch() {
    #expect(CLIEnvironment.gpuConfiguration(environment: [:]).smallBatchMatMat)
    #expect(CLIEnvironment.gpuConfiguration(environment: ["QUANTA_SMALL_BATCH_MMQ": "1"]).smallBatchMatMat)
    for off in ["0", "off", "false", "NO"] {
      #expect(!CLIEnvironment.gpuConfiguration(environment: ["QUANTA_SMALL_BATCH_MMQ": off]).smallBatchMatMat)
    }
    var settings = CLIEnvironment.modelSettings(environment: ["QUANTA_SMALL_BATCH_MMQ": "0"])
    settings.matrixCores = true
    #expect(settings.gpuPaths.smallBatchMatMat == false)
  }

  @Test func shortRowMatVecSwitch() {
    #expect(CLIEnvironment.gpuConfiguration(environment: [:]).shortRowMatVec)
    #expect(CLIEnvironment.gpuConfiguration(environment: ["QUANTA_SHORT_ROW_MATVEC": "1"]).shortRowMatVec)
    for off in ["0", "off", "FALSE", "no"] {
      #expect(!CLIEnvironment.gpuConfiguration(environment: ["QUANTA_SHORT_ROW_MATVEC": off]).shortRowMatVec)
    }
  }

  @Test func matVecTailsSwitch() {
    #expect(!CLIEnvironment.gpuConfiguration(environment: [:]).matVecTails)
    #expect(!CLIEnvironment.gpuConfiguration(environment: ["QUANTA_MATVEC_TAILS": "0"]).matVecTails)
    for on in ["1", "on", "TRUE", "yes"] {
      #expect(CLIEnvironment.gpuConfiguration(environment: ["QUANTA_MATVEC_TAILS": on]).matVecTails)
    }
  }

  @Test func unsetOrEmptyVariablesLeaveTheDefaults() {
    let c = CLIEnvironment.gpuConfiguration(environment: [
      "QUANTA_CUDA_LIB": "", "QUANTA_CACHE": "", "HOME": "/h",
    ])
    #expect(c == GPUConfiguration())
    #expect(KernelCache(directory: c.kernelCacheDirectory).directory == KernelCache.defaultDirectory)
    #expect(KernelCache.defaultDirectory.path.hasSuffix("/.cache/quanta/kernels"))
  }

  @Test func modelSettingsCarryThePathsIntoTheRegistry() {
    let s = CLIEnvironment.modelSettings(environment: ["QUANTA_HIP_LIB": "/x/libamdhip64.so"])
    #expect(s.gpuPaths.libraries.hipRuntime == "/x/libamdhip64.so")
    #expect(s.registry() !== BackendRegistry.standard)
    #expect(CLIEnvironment.modelSettings(environment: [:]).registry() === BackendRegistry.standard)
    #expect(CLIEnvironment.modelSettings(environment: ["QUANTA_CACHE": "/c"]).modelCache?.path == "/c")
    #expect(
      CLIEnvironment.modelSettings(environment: ["XDG_CACHE_HOME": "/x"]).modelCache?.path == "/x/quanta")
  }

  /// A library path passed in replaces the search: the error names exactly that path.
  @Test func aPassedLibraryPathIsTheOnlyOneTried() {
    let report = GPUDevices.probe(.cuda, libraries: GPULibraryPaths(cudaDriver: "/nonexistent/libcuda-q.so"))
    let text = report.unavailable.map { "\($0)" } ?? ""
    #expect(text.contains("/nonexistent/libcuda-q.so"), "\(text)")
    #expect(!text.contains("libcuda.so.1"), "\(text)")
  }
}
