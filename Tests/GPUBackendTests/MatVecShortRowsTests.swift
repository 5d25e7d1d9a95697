import GGML
import GPUKernels
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

  /// The row-chain tail kernel's geometry is the host's: FUSED_ROW_THREADS and FUSED_ROW_VECS (common.cuh)
  /// bound a chain's row, MMVQ_GLU_MAX_K (mmvq.cu) the gated activation it quantizes, and every short
  /// row of every type fits that bound.
  @Test func chainTailLimitsAreTheKernelSources() throws {
    func define(_ name: String, in file: String) throws -> Int? {
      let text = try #require(KernelSources.files[file])
      guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("#define \(name) ") }) else {
        return nil
      }
      return Int(line.split(separator: " ")[2])
    }
    let threads = try #require(try define("FUSED_ROW_THREADS", in: "common.cuh"))
    let vectors = try #require(try define("FUSED_ROW_VECS", in: "common.cuh"))
    #expect(threads == GPUPlanGeometry.rowThreads)
    #expect(4 * threads * vectors == GPUPlanGeometry.rowMaxValues)
    #expect(try define("MMVQ_GLU_MAX_K", in: "mmvq.cu") == GPUPlanGeometry.gluMatVecMaxValues)
    for t in GPUMatVec.dotTypes {
      let longest = stride(from: t.blockSize, through: 65536, by: t.blockSize).filter {
        GPUMatVec.shortRows(t, k: $0, columns: 1)
      }.last
      #expect((longest ?? 0) <= GPUPlanGeometry.gluMatVecMaxValues, "\(t.name)")
    }
  }

  @Test func onByDefault() {
    #expect(GPUBackend.Configuration().shortRowMatVec)
  }
}
