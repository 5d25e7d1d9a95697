import Foundation
import GGML
import GPUKernels
import QuantaCore
import Testing

@testable import GPUBackend

/// The dense GPU ops without a GPU: the kernel list and sources agree (the selftest's dense cases:
/// SelftestDenseCaseTests). The kernels themselves compile in HIPCompileTests (gfx906, gfx90a,
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
}
