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
  static func load(
    _ path: String, _ k: KVCacheType, _ v: KVCacheType, head: Int = 0, rotation: Bool = true
  ) async throws
    -> LanguageModel
  {
    var o = ModelLoadOptions(contextLength: 32, batchSize: 512)
    o.keyCacheType = k
    o.valueCacheType = v
    o.attentionRotation = rotation
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

  /// llama.cpp's rotation around quantized caches, end to end: the model's logits (prompt rows and
  /// decode steps) against the Double reference that stores keys and values rotated and rounded
  /// through the reference codecs (`TinyReference.cache`), with the rotation on and with it off
  /// (`attentionRotation = false`, llama.cpp's `LLAMA_ATTN_ROT_DISABLE=1`). Each run must follow
  /// its own cache model; for q4_0 the other model is far off, so a rotation with the wrong
  /// block, the wrong tensors or a missing inverse fails. Head dimension 128 on llama (K blocks of
  /// 128, V of 64), 64 on gemma3 (both 64, window and query scaling). f16 caches are not rotated:
  /// the rotation option leaves them bit for bit unchanged.
  @Test(arguments: [(TinySpec.Arch.llama, 128), (.gemma3, 64)])
  func rotationFollowsTheCacheModel(_ arch: TinySpec.Arch, _ headDim: Int) async throws {
    var spec = TinySpec.make(arch)
    if headDim != spec.headDim {
      spec.heads = spec.heads * spec.headDim / headDim
      spec.kvHeads = max(1, spec.kvHeads * spec.headDim / headDim)
      spec.headDim = headDim
    }
    let path = try TinyModel.write(spec, seed: 17)
    defer { try? FileManager.default.removeItem(atPath: path) }
    var ids: [Int32] = [1]
    for i in 1..<14 { ids.append(Int32(3 + (i * 37 + 5) % 301)) }
    var reference = try TinyReference(spec: spec, path: path)
    // Worst-row NMSE against its own cache model, measured (llama hd 128 / gemma3 hd 64): q4_0/q4_0
    // 5.4e-3 / 1.0e-3 (a q4_0 rounding flip between the f32 model and the Double reference carries
    // through the layers), q8_0/q8_0 3.6e-4 / 7e-5, q4_0/f16 1.1e-3 / 3.0e-4; against the other cache
    // model, q4_0 K: 3.2-4.2× further (q4_0/q4_0), 4.5-12× (q4_0/f16). Bounds about twice that.
    for (k, v, bound): (KVCacheType, KVCacheType, Double) in [
      (.q4_0, .q4_0, 1.2e-2), (.q8_0, .q8_0, 1e-3), (.q4_0, .f16, 2.5e-3),
    ] {
      var worst: [Bool: [Bool: Double]] = [:]  // [model rotated][reference rotated]
      for rotated in [true, false] {
        let rows = try Self.logits(try await Self.load(path, k, v, rotation: rotated), ids)
        for referenceRotated in [true, false] {
          let r = AttentionRotation(
            headDim: headDim, keyType: k, valueType: v, enabled: referenceRotated)
          reference.cache = .init(
            keyType: k.ggmlType, valueType: v.ggmlType, keyBlock: r.keyBlock, valueBlock: r.valueBlock)
          let want = try reference.logits(ids)
          worst[rotated, default: [:]][referenceRotated] =
            zip(rows, want).map { nmse($0, $1) }.max()!
        }
      }
      let (on, off) = (worst[true]!, worst[false]!)
      let label = "\(arch) hd \(headDim) K \(k) V \(v)"
      #expect(on[true]! <= bound, "\(label) rotated vs rotated reference: \(on[true]!)")
      #expect(off[false]! <= bound, "\(label) unrotated vs unrotated reference: \(off[false]!)")
      if k == .q4_0 {
        // The other cache model is several times further away (measured: see the bounds).
        #expect(on[false]! > 2.5 * on[true]!, "\(label): rotation on is as close to no rotation: \(on)")
        #expect(off[true]! > 2.5 * off[false]!, "\(label): rotation off is as close to rotation: \(off)")
      }
    }
    let plain = try Self.logits(try await Self.load(path, .f16, .f16, rotation: true), ids)
    let unrotated = try Self.logits(try await Self.load(path, .f16, .f16, rotation: false), ids)
    #expect(plain == unrotated, "\(arch): the rotation option changed an f16 cache's run")
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
