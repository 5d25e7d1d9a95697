import ArgumentParser
import Foundation
import GPUBackend

/// `quanta kernels --compile --arch ARCH [--vendor hip|cuda] [--output FILE]`: builds every GPU
/// kernel ahead of time for a target into the kernel cache (or a named file), so a deployment can
/// ship code objects for targets such as gfx906, gfx90a, gfx1030 or sm_90.
struct Kernels: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "kernels", abstract: "Compile the GPU kernels ahead of time for a target.")

  @Flag(help: "Compile every kernel for --arch.") var compile = false
  @Flag(help: "Print the source --arch compiles (vendor prelude, host defines, kernels) and exit.")
  var printSource = false
  @Option(help: "Target architecture: gfx906, gfx90a, gfx1030, sm_90, ...") var arch: String
  @Option(help: "hip or cuda (default: from the architecture's name).") var vendor: String?
  @Option(help: "Write the code object to FILE instead of the kernel cache.") var output: String?
  @Option(help: "Physical wavefront width (default: the architecture's).") var warpSize: Int?

  func run() throws {
    guard compile || printSource else {
      throw ValidationError("nothing to do: pass --compile or --print-source")
    }
    let v: GPUVendor
    if let vendor {
      guard let parsed = GPUVendor(rawValue: vendor.lowercased()) else {
        throw ValidationError("--vendor must be hip or cuda")
      }
      v = parsed
    } else {
      guard let inferred = KernelBuild.vendor(forArchitecture: arch) else {
        throw ValidationError("cannot tell the vendor of '\(arch)': pass --vendor")
      }
      v = inferred
    }
    guard let warp = warpSize ?? KernelBuild.warpSize(forArchitecture: arch), warp == 32 || warp == 64 else {
      throw ValidationError("unknown wavefront width for '\(arch)': pass --warp-size 32 or 64")
    }
    if printSource {
      print(KernelBuild.source(vendor: v, warpSize: warp))
      return
    }
    let gpuConfiguration = CLIEnvironment.gpuConfiguration()
    let api = try GPUDevices.loadAPI(v, libraries: gpuConfiguration.libraries)
    let cache = KernelCache(directory: gpuConfiguration.kernelCacheDirectory)
    let compiler = KernelCompiler(api: api, cache: cache)
    let result = try compiler.codeObject(architecture: arch, warpSize: warp, useCache: output == nil)
    if let output {
      try Data(result.code.bytes).write(to: URL(fileURLWithPath: output))
      print(
        "\(KernelBuild.kernelNames.count) kernels for \(arch) (wave\(warp)): \(result.code.bytes.count) bytes → \(output)"
      )
    } else {
      let path = cache.url(vendor: v, architecture: arch, key: result.key).path
      print(
        "\(KernelBuild.kernelNames.count) kernels for \(arch) (wave\(warp)): \(result.code.bytes.count) bytes → \(path)"
          + (result.fromCache ? " (already cached)" : ""))
    }
  }
}
