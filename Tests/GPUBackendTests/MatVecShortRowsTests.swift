import GGML
import Testing

@testable import GPUBackend

/// The short-row mat-vec choice (`GPUMatVec.shortRows`) and what the kernel source is told about it.
/// The kernels themselves run on the CPU emulation (scripts/gpu_emulate/matvec.sh).
@Suite struct MatVecShortRowsTests {
  @Test func shortRowsAreThoseThatLeaveTheCTAMostlyIdle() {
    // Gemma 3 270M: k = 640 (q8_0 logits, q5_0 projections), 1024 (q4_K), 2048 (q6_K).
    #expect(GPUMatVec.shortRows(.q8_0, k: 640, columns: 1))
    #expect(GPUMatVec.shortRows(.q5_0, k: 640, columns: 1))
    #expect(GPUMatVec.shortRows(.q4_K, k: 1024, columns: 1))
    #expect(GPUMatVec.shortRows(.q6_K, k: 2048, columns: 1))
    // 1B / 7B rows fill the 128-thread CTA: 2048 / 32 · 2 = 128 slots, 4096 / 32 · 2 = 256.
    #expect(!GPUMatVec.shortRows(.q8_0, k: 2048, columns: 1))
    #expect(!GPUMatVec.shortRows(.q4_0, k: 4096, columns: 1))
    #expect(!GPUMatVec.shortRows(.q4_K, k: 4096, columns: 1))
    // Only one column, only the per-type kernels.
    #expect(!GPUMatVec.shortRows(.q8_0, k: 640, columns: 2))
    #expect(!GPUMatVec.shortRows(.f16, k: 640, columns: 1))
    #expect(!GPUMatVec.shortRows(.iq2_xxs, k: 256, columns: 1))
  }

  @Test func partsAreDeclaredForEveryPerTypeKernelAndReachTheSource() {
    #expect(Set(GPUMatVec.partsPerBlock.keys) == Set(GPUMatVec.dotTypes))
    for t in GPUMatVec.dotTypes {
      #expect(GPUMatVec.sourceDefines.contains("#define MMVQ_PARTS_\(t.name) \(GPUMatVec.partsPerBlock[t]!)"))
      #expect(GPUMatVec.dotKernelNames.contains("mul_mat_vec_q_\(t.name)_1_short"))
      #expect(GPUMatVec.dotKernelNames.contains("mul_mat_vec_q_\(t.name)_1_short_chain"))
    }
    #expect(GPUMatVec.shortRowsPerBlock(warpSize: 32) == 4)
    #expect(GPUMatVec.shortRowsPerBlock(warpSize: 64) == 2)
  }

  @Test func onByDefault() {
    #expect(GPUBackend.Configuration().shortRowMatVec)
  }
}
