import Foundation
import GPUKernels
import Testing

@testable import GPUBackend

/// CI check (a): every kernel compiles through Quanta's own HIP path — the HIP VendorAPI's hiprtc,
/// loaded with dlopen — for 64-wide (gfx906, gfx90a, gfx940) and 32-wide (gfx1030) targets. No GPU
/// is needed. A missing HIP runtime fails this test (scripts/setup.sh installs it); it never skips.
@Suite("HIP kernel compile (no GPU)", .serialized)
struct HIPCompileTests {
  static let targets = ["gfx906", "gfx90a", "gfx940", "gfx1030"]

  @Test func everyKernelCompilesForEveryTarget() throws {
    let api = try HIPVendorAPI()
    let compiler = KernelCompiler(api: api)
    var tally: [String] = []
    for arch in Self.targets {
      let warp = try #require(KernelBuild.warpSize(forArchitecture: arch))
      #expect(warp == (arch.hasPrefix("gfx10") ? 32 : 64))
      let supported = api.compilerTargets()
      if let supported, !supported.contains(arch) {
        // The loaded hiprtc cannot target `arch` (Debian's HIP 5.2 predates gfx940); Quanta must
        // say so with a typed error instead of letting hiprtc abort the process.
        let outcome = Result { () throws(GPUError) in
          try compiler.codeObject(architecture: arch, warpSize: warp, useCache: false)
        }
        if case .failure(.noCodeForArchitecture(_, let a, let available, _)) = outcome {
          #expect(a == arch)
          #expect(available.contains("gfx90a"))
          tally.append(
            "\(arch): NOT COMPILED — \(api.versionDescription) cannot target it (typed error checked)")
        } else {
          Issue.record("\(arch): expected .noCodeForArchitecture, got \(outcome)")
        }
        continue
      }
      let result = try compiler.codeObject(architecture: arch, warpSize: warp, useCache: false)
      // An AMDGPU code object (ELF) naming every kernel.
      #expect(Array(result.code.bytes.prefix(4)) == [0x7f, 0x45, 0x4c, 0x46])
      let text = String(decoding: result.code.bytes, as: UTF8.self)
      let missing = KernelBuild.kernelNames.filter { !text.contains($0) }
      #expect(missing.isEmpty, "\(arch): kernels missing from the code object: \(missing)")
      tally.append(
        "\(arch) (wave\(warp)): \(KernelBuild.kernelNames.count - missing.count)/\(KernelBuild.kernelNames.count) kernels, \(result.code.bytes.count) bytes"
      )
    }
    print("hiprtc compile tally (\(api.versionDescription)):\n  " + tally.joined(separator: "\n  "))
    // gfx906, gfx90a and gfx1030 must always compile: they are in every ROCm since 5.0.
    #expect(tally.filter { !$0.contains("NOT COMPILED") }.count >= 3)
  }

  @Test func compileErrorCarriesTheLog() throws {
    let api = try HIPVendorAPI()
    let outcome = Result { () throws(GPUError) in
      try api.compile(
        source: "extern \"C\" __global__ void k() { undefined_name = 1; }", name: "bad.cu",
        architecture: "gfx90a", options: [])
    }
    guard case .failure(.compileFailed(let vendor, let arch, _, let log)) = outcome else {
      Issue.record("expected .compileFailed, got \(outcome)")
      return
    }
    #expect(vendor == .hip)
    #expect(arch == "gfx90a")
    #expect(log.contains("undefined_name"))
  }

  @Test func cacheRoundTripsACodeObject() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("quanta-kcache-\(getpid())")
    defer { try? FileManager.default.removeItem(at: dir) }
    let api = try HIPVendorAPI()
    let compiler = KernelCompiler(api: api, cache: KernelCache(directory: dir))
    let first = try compiler.codeObject(architecture: "gfx1030", warpSize: 32)
    #expect(!first.fromCache)
    let second = try compiler.codeObject(architecture: "gfx1030", warpSize: 32)
    #expect(second.fromCache)
    #expect(second.code == first.code)
    #expect(second.key == first.key)
  }
}
