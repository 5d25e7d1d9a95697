import GGML
import Testing

@testable import GPUBackend

/// Which mat-vec launches split their CTA into wavefront groups (GPUMatVec.groups, mmvq.cu's
/// `groups`): rows whose block parts fill at most half a CTA. The kernels' sums for every grouping are
/// checked by scripts/gpu_emulate/matvec.sh (CPU emulation, wave32 and wave64).
@Suite("Mat-vec wavefront groups for short rows")
struct MatVecGroupsTests {
  @Test func gemmaShortRowsTakeOneWavefrontPerRow() {
    // Gemma 3 270M: k = 640 (q8_0 / q5_0: 20 blocks × 2 parts), attn_output k = 1024 q4_K (4 × 8),
    // ffn_down k = 2048 q4_K (8 × 8): four single-wavefront groups per 128-thread CTA at wave32.
    for (type, k) in [(GGMLType.q8_0, 640), (.q5_0, 640), (.q4_K, 1024), (.q4_K, 2048), (.q6_K, 2048)] {
      #expect(GPUMatVec.groups(type: type, k: k, columns: 1, warpSize: 32) == 4, "\(type) k=\(k)")
      #expect(GPUMatVec.groups(type: type, k: k, columns: 1, warpSize: 64) == 2, "\(type) k=\(k) wave64")
    }
  }

  @Test func rowsThatFillTheCTAKeepOneGroup() {
    // 7B shapes: k = 4096 q4_K (128 parts), q4_0 (256), k = 11008 q6_K.
    for (type, k) in [(GGMLType.q4_K, 4096), (.q4_0, 4096), (.q6_K, 11008), (.q8_0, 2048)] {
      #expect(GPUMatVec.groups(type: type, k: k, columns: 1, warpSize: 32) == 1, "\(type) k=\(k)")
    }
    // 48 parts (q8_0, k = 768) leave more than half of 128 threads idle: one wavefront each, in two
    // steps; 80 parts (k = 1280) keep the whole CTA.
    #expect(GPUMatVec.groups(type: .q8_0, k: 768, columns: 1, warpSize: 32) == 4)
    #expect(GPUMatVec.groups(type: .q8_0, k: 1280, columns: 1, warpSize: 32) == 1)
  }

  @Test func everyGroupHasAThreadPerOutput() {
    for m in 1...GPUMatVec.maxColumns {
      for warp in [32, 64] {
        let g = GPUMatVec.groups(type: .q8_0, k: 640, columns: m, warpSize: warp)
        let threads = GPUMatVec.threads(columns: m)
        #expect(threads / warp % g == 0)
        #expect(m * GPUMatVec.rows(columns: m) <= threads / g)
      }
    }
  }
}
