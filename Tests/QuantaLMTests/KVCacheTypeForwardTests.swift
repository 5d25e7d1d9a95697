import Foundation
import GGUF
import Quanta
import QuantaCore
import Testing

@testable import QuantaLM

/// A model's forward pass with each KV cache type (`ModelLoadOptions.keyCacheType` /
/// `valueCacheType`, the CLI's `-ctk` / `-ctv`): close to the f16 cache's logits within a bounded
/// NMSE, memory estimates in the real bytes, and a typed error where a block type does not divide
/// the head dimension.
@Suite struct KVCacheTypeForwardTests {
  static func load(_ path: String, _ k: KVCacheType, _ v: KVCacheType, head: Int = 0) async throws
    -> LanguageModel
  {
    var o = ModelLoadOptions(contextLength: 32, batchSize: 512)
    o.keyCacheType = k
    o.valueCacheType = v
    return try await LanguageModel.load(path: path, device: .cpu, registry: .standard, options: o)
  }

  /// Logits of a 10-token prompt (one batch, every row) and 6 decode steps.
  static func logits(_ model: LanguageModel, _ ids: [Int32]) throws -> [[Float]] {
    let session = try model.makeSession()
    var rows = try session.evaluateAll(tokens: Array(ids[..<10]))
    for id in ids[10...] { rows.append(try session.evaluate(tokens: [id])) }
    return rows
  }

  /// NMSE bounds against the f16 cache's logits, about twice the worst row measured on these
  /// random-weight models (16 positions; llama / gemma3): bf16 5.8e-4 / 1e-4, q8_0 6.4e-4 / 1.1e-4,
  /// q4_0 1.4e-2 / 2e-3 — in step with the types' rounding steps (bf16 2⁻⁸ relative, q8_0 amax/127,
  /// q4_0 amax/8 per 32 values). A cache read as the wrong type, or rows written to the wrong
  /// positions, gives NMSE ~1.
  static let bounds: [KVCacheType: Double] = [.f16: 0, .bf16: 1.5e-3, .q8_0: 1.5e-3, .q4_0: 3e-2]

  @Test(arguments: [TinySpec.Arch.llama, .gemma3])
  func quantizedCachesStayCloseToF16(_ arch: TinySpec.Arch) async throws {
    let path = try TinyModel.write(TinySpec.make(arch), seed: 11)
    defer { try? FileManager.default.removeItem(atPath: path) }
    var ids: [Int32] = [1]
    for i in 1..<16 { ids.append(Int32(3 + (i * 53 + 7) % 311)) }
    let base = try Self.logits(try await Self.load(path, .f16, .f16), ids)
    for (k, v): (KVCacheType, KVCacheType) in [
      (.f16, .f16), (.bf16, .bf16), (.q8_0, .q8_0), (.q4_0, .q4_0), (.q8_0, .q4_0), (.f16, .q8_0),
    ] {
      let rows = try Self.logits(try await Self.load(path, k, v), ids)
      let bound = max(Self.bounds[k]!, Self.bounds[v]!)
      var worst = 0.0
      for (i, row) in rows.enumerated() { worst = max(worst, nmse(row, base[i].map(Double.init))) }
      #expect(worst <= bound, "\(arch) K \(k) V \(v): worst row NMSE \(worst) > \(bound)")
      if k == .f16 && v == .f16 { #expect(worst == 0, "\(arch): f16 runs differ") }
      // Not the same numbers as f16 (the cache type really changed what attention read).
      if k != .f16 || v != .f16 { #expect(worst > 0, "\(arch) K \(k) V \(v): identical to f16") }
    }
  }

  @Test func memoryEstimateCountsTheRealBytes() async throws {
    let spec = TinySpec.make(.llama)
    let path = try TinyModel.write(spec, seed: 5)
    defer { try? FileManager.default.removeItem(atPath: path) }
    // Per layer and token: kvHeads · headDim values for K and for V.
    let values = spec.kvHeads * spec.headDim
    for (k, v, bytesPerToken): (KVCacheType, KVCacheType, Int) in [
      (.f16, .f16, 2 * values * 2), (.bf16, .q8_0, values * 2 + values / 32 * 34),
      (.q4_0, .q4_0, 2 * (values / 32 * 18)), (.q8_0, .f16, values / 32 * 34 + values * 2),
    ] {
      let model = try await Self.load(path, k, v)
      #expect(model.memoryEstimate.kvBytesPerToken == spec.layers * bytesPerToken, "K \(k) V \(v)")
      #expect(model.memoryEstimate.kvCache == spec.layers * bytesPerToken * model.contextLength)
      #expect(model.kvCacheBytes == model.memoryEstimate.kvCache)
      let session = try model.makeSession()
      #expect(session.cache.byteCount == model.kvCacheBytes, "K \(k) V \(v): allocated bytes")
    }
  }

  @Test func blockTypeMustDivideTheHeadDimension() async throws {
    var spec = TinySpec.make(.llama)
    spec.headDim = 16  // not a multiple of q8_0's / q4_0's 32-value block
    spec.heads = spec.d / 16
    let path = try TinyModel.write(spec, seed: 3)
    defer { try? FileManager.default.removeItem(atPath: path) }
    for (k, v): (KVCacheType, KVCacheType) in [(.q8_0, .f16), (.f16, .q4_0)] {
      do {
        _ = try await Self.load(path, k, v)
        Issue.record("K \(k) V \(v) loaded with head dimension 16")
      } catch let error as QuantaError {
        #expect("\(error)".contains("head dimension 16"), "\(error)")
      }
    }
    // f16 and bf16 have no block: they load.
    _ = try await Self.load(path, .bf16, .bf16)
  }
}
