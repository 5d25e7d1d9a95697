import GGML
import Testing

@testable import GPUBackend

/// The small-batch matrix-core mat-mat (GPUMatMat.SmallBatch): which matmuls take it, its tile, k
/// split and scratch, and the names and defines the kernel source gets. No GPU needed; the kernels'
/// results are checked by scripts/gpu_kernels_emulate.sh (CPU emulation, wave32 and wave64).
@Suite("Small-batch mat-mat: routing, split-k, scratch")
struct SmallBatchMatMatTests {
  typealias S = GPUMatMat.SmallBatch

  @Test func routesNineToSixtyFourColumnsOnCUDASm80Only() {
    for m in [9, 16, 33, 64] {
      #expect(S.applies(.q4_0, columns: m, enabled: true, vendor: .cuda, architecture: "sm_90"))
    }
    for m in [1, 8, 65, 512] {
      #expect(!S.applies(.q4_0, columns: m, enabled: true, vendor: .cuda, architecture: "sm_90"))
    }
    #expect(!S.applies(.q4_0, columns: 16, enabled: false, vendor: .cuda, architecture: "sm_90"))
    #expect(!S.applies(.q4_0, columns: 16, enabled: true, vendor: .cuda, architecture: "sm_75"))
    #expect(!S.applies(.q4_0, columns: 16, enabled: true, vendor: .hip, architecture: "gfx90a"))
    #expect(!S.applies(.iq2_xxs, columns: 16, enabled: true, vendor: .cuda, architecture: "sm_90"))
    // The small tiles fit a consumer card's 99 KiB even where the prompt tiles do not (q6_K).
    #expect(GPUMatMat.sharedBytes(for: .q6_K) > 99 * 1024)
    #expect(
      S.applies(
        .q6_K, columns: 16, enabled: true, vendor: .cuda, architecture: "sm_86", maxSharedBytes: 99 * 1024))
    #expect(
      !S.applies(
        .q6_K, columns: 16, enabled: true, vendor: .cuda, architecture: "sm_86", maxSharedBytes: 16 * 1024))
  }

  @Test func columnTileIsTheFirstThatHoldsTheBatch() {
    #expect(S.launch(rows: 32000, columns: 9, k: 4096, multiprocessors: 132).tileColumns == 16)
    #expect(S.launch(rows: 32000, columns: 16, k: 4096, multiprocessors: 132).tileColumns == 16)
    #expect(S.launch(rows: 32000, columns: 17, k: 4096, multiprocessors: 132).tileColumns == 32)
    #expect(S.launch(rows: 32000, columns: 64, k: 4096, multiprocessors: 132).tileColumns == 32)
  }

  /// H100 (132 SMs), 7B shapes: k is split until the CTAs reach about 2 × the SMs, without empty slices.
  @Test func splitsKWhereTheTilesDoNotFillTheDevice() {
    // 4096 × 4096, 16 columns: 64 tiles; 5 slices wanted, 16 k-steps → 4 of 4.
    #expect(
      S.launch(rows: 4096, columns: 16, k: 4096, multiprocessors: 132)
        == .init(tileColumns: 16, stepsPerSplit: 4, splits: 4))
    // 64 columns: 128 tiles of 32 columns → 3 slices of 6, 6, 4 steps.
    #expect(
      S.launch(rows: 4096, columns: 64, k: 4096, multiprocessors: 132)
        == .init(tileColumns: 32, stepsPerSplit: 6, splits: 3))
    // ffn up (11008 rows): 172 tiles → 2 slices; the output layer (32000 rows) fills the device alone.
    #expect(S.launch(rows: 11008, columns: 16, k: 4096, multiprocessors: 132).splits == 2)
    #expect(S.launch(rows: 32000, columns: 16, k: 4096, multiprocessors: 132).splits == 1)
    // One k-step: nothing to split. At most maxSplits, each at least minStepsPerSplit steps.
    #expect(S.launch(rows: 64, columns: 16, k: 256, multiprocessors: 132).splits == 1)
    let l = S.launch(rows: 64, columns: 16, k: 65536, multiprocessors: 132)
    #expect(l.splits == S.maxSplits && l.stepsPerSplit * l.splits >= 65536 / 256)
    for (n, m, k) in [(4096, 16, 4096), (64, 9, 2048), (4096, 64, 11008), (1000, 33, 800)] {
      let l = S.launch(rows: n, columns: m, k: k, multiprocessors: 132)
      let steps = (k / 32 + 7) / 8
      #expect(l.stepsPerSplit * l.splits >= steps && l.stepsPerSplit * (l.splits - 1) < steps)
      #expect(l.splits == 1 || l.stepsPerSplit >= S.minStepsPerSplit)
    }
  }

  /// Launches under half a CTA per SM go to mat-vec launches: Gemma 3 270M's q (1024 × 640: 16 CTAs), k
  /// (256 × 640), FFN down (640 × 2048: 10 tiles × 4 slices) — not its logits or any 7B matrix.
  @Test func launchesThatLeaveSMsIdleAreNotTaken() {
    func fills(_ n: Int, _ k: Int, _ m: Int = 16) -> Bool {
      S.launch(rows: n, columns: m, k: k, multiprocessors: 132).fills(
        rows: n, columns: m, multiprocessors: 132)
    }
    #expect(
      !fills(1024, 640) && !fills(256, 640) && !fills(2048, 640) && !fills(640, 2048) && !fills(640, 1024))
    #expect(fills(262_144, 640))
    // 7B shapes, and a GQA k/v projection (1024 × 4096: 16 tiles × 8 slices).
    for (n, k) in [(4096, 4096), (11008, 4096), (4096, 11008), (32000, 4096), (1024, 4096)] {
      #expect(fills(n, k), "\(n) × \(k)")
      #expect(fills(n, k, 64), "\(n) × \(k), 64 columns")
    }
  }

  @Test func partialsFollowTheActivationsInTheScratch() {
    let l = S.launch(rows: 4096, columns: 16, k: 4096, multiprocessors: 132)
    #expect(l.partialBytes(rows: 4096, columns: 16) == 4 * 16 * 4096 * 4)
    let g = l.grid(rows: 4096, columns: 16)
    #expect(g.0 == 64 && g.1 == 1 && g.2 == 4)
    #expect(
      S.launch(rows: 32000, columns: 16, k: 4096, multiprocessors: 132).partialBytes(rows: 32000, columns: 16)
        == 0)
    let q8 = 16 * (4096 / 32) * 36
    #expect(GPUMatMat.partialsOffset(q8Bytes: q8) >= q8 && GPUMatMat.partialsOffset(q8Bytes: q8) % 256 == 0)
    #expect(GPUMatMat.partialsOffset(q8Bytes: 512) == 512)
  }

  @Test func kernelNamesAndDefinesComeFromTheTable() {
    let names = S.kernelNames
    #expect(names.contains("mul_mat_q_q4_0_n16") && names.contains("mul_mat_q_q6_K_n32"))
    #expect(names.contains("mul_mat_q_reduce"))
    #expect(names.count == GPUMatMat.matrixCoreTypes.count * S.columnTiles.count + 1)
    #expect(KernelBuild.kernelNames.contains("mul_mat_q_iq4_xs_n32"))
    let d = GPUMatMat.sourceDefines
    #expect(d.contains("#define MMQ_SMALL_Y \(S.tileRows)\n"))
    #expect(d.contains("#define MMQ_SMALL_NWARPS \(S.warps)\n"))
    #expect(d.contains("#define MMQ_SMALL_X_LIST(F, name, sub) F(name, sub, 16) F(name, sub, 32)\n"))
    #expect(S.tileRows % (16 * S.warps) == 0 && S.columnTiles.allSatisfy { $0 % 8 == 0 })
  }
}
