import CPUBackend
import Foundation
import GGML
import GPUKernels
import QuantaCore
import Testing

@testable import GPUBackend

/// The dense GPU ops without a GPU: the kernel list and sources agree, the selftest's comparison
/// catches what it must, and every dense selftest case is well-formed (core accepts its inputs and
/// the CPU reference runs it). The kernels themselves compile in HIPCompileTests (gfx906, gfx90a,
/// gfx1030); their results need a device (`quanta selftest --device D`).
@Suite("GPU dense ops (no GPU)")
struct DenseOpsTests {
  @Test func denseKernelNamesAreUniqueAndPartOfTheKernelList() {
    let names = KernelBuild.kernelNames
    #expect(Set(names).count == names.count, "duplicate kernel names")
    #expect(Set(KernelBuild.denseKernelNames).isSubset(of: Set(names)))
    // 6 quantizers, bf16 dequantize per quantized type, 9 conversions, 3 × (getRows, mat-vec, mat-mat, expert
    // mat-vec), 23 row and element-wise ops (4 KV cache writes, 3 per-row attentions — attention_kv_seq the
    // batched-decode one —, the Hadamard rotation, gpt-oss's swiglu_oai and add_id), one prompt attention
    // kernel per head-dimension bound.
    #expect(
      KernelBuild.denseKernelNames.count == 6 + KernelBuild.types.count + 9 + 12 + 23
        + KernelBuild.attentionTiles.count)
    #expect(KernelBuild.attentionTiles.count == 3)
    // The plan's fused kernels are defined and listed.
    let source = KernelBuild.source(vendor: .cuda, warpSize: 32)
    for name in GPUPlanGeometry.kernels { #expect(source.contains(" \(name)("), "\(name) not defined") }
    #expect(Set(GPUPlanGeometry.kernels).isSubset(of: Set(names)))
  }

  /// The dense kernel files are embedded and concatenated after kernels.cu (they use its helpers).
  @Test func denseSourcesAreInTheCommonOrder() throws {
    let order = KernelSources.commonOrder
    let kernels = try #require(order.firstIndex(of: "kernels.cu"))
    for file in ["dense_convert.cu", "dense_ops.cu"] {
      let i = try #require(order.firstIndex(of: file), "\(file) not embedded")
      #expect(i > kernels)
    }
    let source = KernelBuild.source(vendor: .hip, warpSize: 64)
    for op in KernelBuild.denseOpKernels { #expect(source.contains(" \(op)("), "\(op) not defined") }
  }

  /// Each GPU quantizer handles 32-value blocks of the type's size (QUANTIZE_REF_KERNEL lines).
  @Test func quantizerBlockSizesMatchTheTypeTable() throws {
    let text = try #require(KernelSources.files["dense_convert.cu"])
    for t in KernelBuild.quantizeTypes {
      #expect(t.blockSize == 32)
      #expect(t.quantizer != nil, "\(t.name) has no CPU reference quantizer to compare with")
      #expect(
        text.contains("QUANTIZE_REF_KERNEL(\(t.name), \(t.typeSize))"),
        "\(t.name): kernel block bytes ≠ \(t.typeSize)")
    }
  }

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
