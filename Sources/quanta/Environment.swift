import Foundation
import GPUBackend
import QuantaDownload
import QuantaTools

/// The one place the CLI reads environment variables into configuration (DESIGN.md principle 7: the
/// libraries read none). QUANTA_CUDA_LIB, QUANTA_NVRTC_LIB, QUANTA_HIP_LIB, QUANTA_HIPRTC_LIB name
/// vendor libraries that replace the built-in search; QUANTA_CACHE/kernels holds compiled kernels
/// (else ~/.cache/quanta/kernels). An empty variable counts as unset. LLAMA_ATTN_ROT_DISABLE (llama.cpp's
/// own variable, read as C's `atoi`: a non-zero number) turns off the Hadamard rotation around
/// quantized KV caches. QUANTA_SMALL_BATCH_MMQ=0 turns off the small-batch mat-mat (`smallBatchMatMat`),
/// QUANTA_SHORT_ROW_MATVEC=0 turns off the short-row mat-vec (`shortRowMatVec`), QUANTA_MATVEC_TAILS=1
/// turns on its fused neighbours (`matVecTails`).
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
      smallBatchMatMat: smallBatchMatMat(value("QUANTA_SMALL_BATCH_MMQ")),
      shortRowMatVec: shortRowMatVec(value("QUANTA_SHORT_ROW_MATVEC")),
      matVecTails: matVecTails(value("QUANTA_MATVEC_TAILS")),
      libraries: GPULibraryPaths(
        cudaDriver: value("QUANTA_CUDA_LIB"), nvrtc: value("QUANTA_NVRTC_LIB"),
        hipRuntime: value("QUANTA_HIP_LIB"), hiprtc: value("QUANTA_HIPRTC_LIB")),
      kernelCacheDirectory: value("QUANTA_CACHE").map {
        URL(fileURLWithPath: $0).appendingPathComponent("kernels")
      })
  }

  /// QUANTA_SMALL_BATCH_MMQ: "0" (or "off", "false", "no") runs 9…64-column matmuls as mat-vec launches
  /// instead of the small-batch matrix-core kernel (GPUBackend.Configuration.smallBatchMatMat); unset
  /// or anything else keeps it on. For timing both paths with one binary.
  static func smallBatchMatMat(_ value: String?) -> Bool {
    guard let v = value?.lowercased() else { return true }
    return !["0", "off", "false", "no"].contains(v)
  }

  /// QUANTA_SHORT_ROW_MATVEC: "0" (or "off", "false", "no") runs short one-column mat-vecs on the plain
  /// kernels instead of one wavefront per row (GPUBackend.Configuration.shortRowMatVec); unset or
  /// anything else keeps the short-row kernels. For timing both paths with one binary.
  static func shortRowMatVec(_ value: String?) -> Bool {
    guard let v = value?.lowercased() else { return true }
    return !["0", "off", "false", "no"].contains(v)
  }

  /// QUANTA_MATVEC_TAILS: "1" (or "on", "true", "yes") lets plans fuse a short-row mat-vec's neighbours
  /// into it (GPUBackend.Configuration.matVecTails); unset or anything else keeps them separate launches.
  static func matVecTails(_ value: String?) -> Bool {
    guard let v = value?.lowercased() else { return false }
    return ["1", "on", "true", "yes"].contains(v)
  }

  /// Model settings with llama.cpp's defaults and the GPU paths from the environment.
  static func modelSettings(environment: [String: String] = ProcessInfo.processInfo.environment)
    -> ModelSettings
  {
    var settings = ModelSettings()
    settings.gpuPaths = gpuConfiguration(environment: environment)
    settings.modelCache = ModelCache.directory(environment: environment)
    settings.attentionRotation = !attentionRotationDisabled(environment["LLAMA_ATTN_ROT_DISABLE"])
    return settings
  }

  /// llama.cpp's test of LLAMA_ATTN_ROT_DISABLE: `atoi(value) != 0` (leading blanks, an optional
  /// sign, then digits; anything else reads as 0).
  static func attentionRotationDisabled(_ value: String?) -> Bool {
    guard let value else { return false }
    var rest = Substring(value).drop { $0 == " " || $0 == "\t" || $0 == "\n" }
    if rest.first == "+" || rest.first == "-" { rest = rest.dropFirst() }
    return rest.prefix { $0.isASCII && $0.isNumber }.contains { $0 != "0" }
  }
}
