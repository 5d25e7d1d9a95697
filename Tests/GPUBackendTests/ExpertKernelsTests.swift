import Foundation
import GPUKernels
import Testing

@testable import GPUBackend

/// The mixture-of-experts kernels without a GPU: the host's numbers are moe.cu's, its kernels are
/// listed, and it comes after the files it uses. The kernels' results: scripts/gpu_emulate/moe.sh
/// (CPU emulation, wave32 and wave64) and `quanta selftest --device D` (routeExperts, matmulID,
/// mixExperts and the qwen3moe / Mixtral plans against the CPU backend).
@Suite("GPU expert kernels (no GPU)")
struct ExpertKernelsTests {
  static func define(_ name: String, in text: String) -> Int? {
    for line in text.split(separator: "\n") where line.hasPrefix("#define \(name) ") {
      return Int(line.dropFirst("#define \(name) ".count).trimmingCharacters(in: .whitespaces))
    }
    return nil
  }

  @Test func hostLimitsAreTheKernelSources() throws {
    let text = try #require(KernelSources.files["moe.cu"])
    #expect(Self.define("MOE_THREADS", in: text) == GPUExperts.threads)
    #expect(Self.define("MOE_MAX_EXPERTS", in: text) == GPUExperts.maxExperts)
    #expect(Self.define("MOE_MAX_USED", in: text) == GPUExperts.maxUsed)
    #expect(text.contains("#define MOE_TILE_COLS MMVQ_MAX_COLS"))
    #expect(GPUExperts.threads % 64 == 0)
  }

  @Test func kernelsAreListedAndDefined() throws {
    let names = KernelBuild.kernelNames
    let source = KernelBuild.source(vendor: .cuda, warpSize: 32)
    for k in GPUExperts.kernels {
      #expect(names.contains(k))
      #expect(source.contains(" \(k)("), "\(k) not defined")
    }
    for t in KernelBuild.types { #expect(names.contains("mul_mat_vec_via_q8_1_id_\(t.name)")) }
    for t in GPUMatVec.dotTypes {
      #expect(names.contains("mul_mat_vec_q_id_\(t.name)_1"))
      #expect(names.contains("mul_mat_vec_q_id_\(t.name)_\(GPUMatVec.maxColumns)"))
    }
    #expect(Set(names).count == names.count, "duplicate kernel names")
    let order = KernelSources.commonOrder
    let moe = try #require(order.firstIndex(of: "moe.cu"))
    for file in ["kernels.cu", "dense_convert.cu", "dense_ops.cu", "mmvq.cu"] {
      #expect(try #require(order.firstIndex(of: file)) < moe, "\(file) after moe.cu")
    }
  }

  /// The tile bound covers the worst case: every expert's last tile partial, plus invalid ids.
  @Test func tileBoundCoversEveryGrouping() {
    let c = GPUExperts.tileColumns
    for (pairs, experts) in [(1, 8), (8, 8), (44, 5), (4096, 128), (9, 1000)] {
      // Worst case: as many groups as can be non-empty (experts + the invalid group), sizes spread.
      let groups = min(experts + 1, pairs)
      var sizes = [Int](repeating: pairs / groups, count: groups)
      for i in 0..<(pairs % groups) { sizes[i] += 1 }
      let tiles = sizes.reduce(0) { $0 + ($1 + c - 1) / c }
      #expect(
        tiles <= GPUExperts.maxTiles(pairs: pairs, experts: experts), "\(pairs) pairs, \(experts) experts")
    }
  }
}
