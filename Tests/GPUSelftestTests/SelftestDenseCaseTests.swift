import CPUBackend
import GGML
import GPUBackend
import Testing

@testable import GPUSelftest

/// The selftest's comparison catches what it must, and every dense selftest case is well-formed (core
/// accepts its inputs and the CPU reference runs it). Their results on a GPU need a device
/// (`quanta selftest --device D`).
@Suite("GPU selftest's dense cases on the CPU")
struct SelftestDenseCaseTests {
  @Test func comparisonDetectsDifferences() {
    #expect(GPUSelftest.compare([1, 2, 3], [1, 2, 3], .exact) == nil)
    #expect(GPUSelftest.compare([1, 2, 3.0000005], [1, 2, 3], .exact) != nil)
    #expect(GPUSelftest.compare([.nan], [.nan], .exact) == nil)
    #expect(GPUSelftest.compare([1, 2], [1, 2, 3], .exact) != nil)
    #expect(GPUSelftest.compare([1, 2, 3.0001], [1, 2, 3], .nmse(1e-7)) == nil)
    #expect(GPUSelftest.compare([1, 2, 3.01], [1, 2, 3], .nmse(1e-7)) != nil)
    #expect(GPUSelftest.compare([1, .infinity], [1, 2], .nmse(1)) != nil)
  }

  /// Every dense case run with the CPU backend in both roles passes: the inputs are valid for
  /// QuantaCore and the reference side works, so a failure on a GPU is the GPU's. The case list
  /// covers every op the GPU backend adds.
  @Test func denseCasesAreWellFormed() throws {
    let cpu = try CPUBackend()
    let cases = GPUSelftest.denseCases(gpu: cpu, cpu: cpu)
    var failures: [String] = []
    for c in cases {
      let outcome = Result { try c.body() }
      switch outcome {
      case .success(nil): break
      case .success(let why?): failures.append("\(c.name): \(why)")
      case .failure(let e):
        // The one case that expects the device to refuse (the CPU quantizes q4_K).
        if !c.name.contains("typed unsupported") { failures.append("\(c.name): \(e)") }
      }
    }
    #expect(failures.filter { !$0.contains("typed unsupported") }.isEmpty, "\(failures)")
    let names = cases.map(\.name)
    for op in [
      "quantize", "dequantize", "getRows", "matmul", "rmsNorm", "layerNorm", "rope", "softmax", "writeKV",
      "attention",
      "silu", "gelu", "swiglu", "geglu", "add", "mul", "scale", "softcap", "routeExperts", "matmulID",
      "mixExperts", "hadamard", "rotated attention",
    ] {
      #expect(names.contains { $0.hasPrefix(op + " ") }, "no selftest case for \(op)")
    }
    for t in KernelBuild.quantizeTypes { #expect(names.contains { $0.hasPrefix("quantize \(t.name) ") }) }
    for t in KernelBuild.types {
      #expect(names.contains("dequantize \(t.name) bf16 [5, \(t.blockSize * 3)]"))
    }
    #expect(cases.count >= 150)
  }
}
