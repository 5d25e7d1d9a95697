// Attention and cache writes for KV caches of any `KVCacheType` (f16, bf16, q8_0, q4_0) — the path
// every pair of cache types other than f16/f16 takes (f16/f16 keeps Attention.swift's paths). It
// follows ggml's CPU flash attention for such caches (`ggml_compute_forward_flash_attn_ext_f16_one_chunk`,
// which ggml runs for every batch size once K or V is not f16):
// - q is converted once per (token, head) to K's dot type — q8_0 blocks for q8_0/q4_0 keys (ggml's
//   `quantize_row_q8_0`), f16- or bf16-rounded floats for f16/bf16 keys — and each score is the
//   type's dot kernel (an integer dot per 32-value block for the quantized types) straight on the
//   cache row: no key is dequantized;
// - keys are visited one at a time with an online softmax (`expf`); V rows are converted to f32 one
//   at a time (one row per key, shared by the GQA group's heads) into an f32 accumulator, or for an
//   f16 V into ggml's f16 accumulator (rounded after every key).
// No dequantized copy of the cache is made.

import CPUKernels
import GGML
import QuantaCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// How attention reads the rows of one cache: K rows scored against a prepared query, V rows
/// converted to f32. Built by the backend from its kernel table (`CPUBackend.cacheReader`).
struct KVCacheReader: Sendable {
  let type: GGMLType
  /// Bytes of one head's row (`headDim` values).
  let headBytes: Int
  /// Bytes between consecutive positions (`kvHeads` rows).
  let positionBytes: Int
  /// Bytes of one prepared query row.
  let queryBytes: Int
  /// q (`headDim` f32) → the form `dot` reads (written to `queryBytes` bytes).
  let prepareQuery: @Sendable (UnsafePointer<Float>, UnsafeMutableRawPointer, Int) -> Void
  /// (K row, prepared query, headDim) → q·k.
  let dot: @Sendable (UnsafeRawPointer, UnsafeRawPointer, Int) -> Float
  /// (V row, out, headDim): the row as f32.
  let toFloat: @Sendable (UnsafeRawPointer, UnsafeMutablePointer<Float>, Int) -> Void
}

extension CPUOps {
  /// Bytes of scratch one thread needs for `attention(q:keys:values:…)`.
  static func cacheAttentionScratchBytes(_ shape: AttentionShape, queryBytes: Int) -> Int {
    let nh = shape.groupSize
    let hd = shape.headDim
    // vRow (hd f32) | acc (nh·hd f32) | max, sum (2·nh f32) | prepared queries (nh · queryBytes, 64-aligned)
    let floats = hd + nh * hd + 2 * nh
    return (floats * 4 + 63) / 64 * 64 + nh * ((queryBytes + 63) / 64 * 64)
  }

  /// `out = softmax(mask(cap(scale · q·Kᵀ))) · V` per (token, head) of the work items `items`, the
  /// caches read in their own types (see the file comment). Query head h reads KV head
  /// `h / (nHead / nKVHead)`; a query with no visible key gets zeros.
  /// - Parameters:
  ///   - q: `(nTokens, nHead, headDim)` f32, `qTokenStride` apart.
  ///   - kCache, vCache: `(nCtx, nKVHead)` rows of `headDim` values in `keys.type` / `values.type`;
  ///     entry j holds position j, entries 0..<nKV are valid.
  ///   - positions: `(nTokens)` position of each query.
  ///   - out: `(nTokens, nHead, headDim)` f32, `outTokenStride` apart.
  ///   - scratch: `cacheAttentionScratchBytes` bytes (64-byte aligned), private to the calling thread.
  static func attention(
    q: UnsafePointer<Float>, kCache: UnsafeRawPointer, vCache: UnsafeRawPointer, keys: KVCacheReader,
    values: KVCacheReader, positions: UnsafePointer<Int32>, into out: UnsafeMutablePointer<Float>,
    shape: AttentionShape, logits: AttentionLogits, items: Range<Int>, scratch: UnsafeMutableRawPointer
  ) {
    forEachHeadGroup(items, shape) { token, heads, kvHead in
      attendGroupCache(
        q: q, kCache: kCache, vCache: vCache, keys: keys, values: values, position: Int(positions[token]),
        out: out, shape: shape, logits: logits, token: token, heads: heads, kvHead: kvHead, scratch: scratch)
    }
  }

  private static func attendGroupCache(
    q: UnsafePointer<Float>, kCache: UnsafeRawPointer, vCache: UnsafeRawPointer, keys: KVCacheReader,
    values: KVCacheReader, position: Int, out: UnsafeMutablePointer<Float>, shape: AttentionShape,
    logits: AttentionLogits, token: Int, heads: Range<Int>, kvHead: Int, scratch: UnsafeMutableRawPointer
  ) {
    let hd = shape.headDim
    let nh = heads.count
    let floats = scratch.assumingMemoryBound(to: Float.self)
    let vRow = floats
    let acc = vRow + hd
    let runningMax = acc + nh * hd
    let runningSum = runningMax + nh
    let queryStride = (keys.queryBytes + 63) / 64 * 64
    let prepared = scratch + ((hd + nh * hd + 2 * nh) * 4 + 63) / 64 * 64
    let halfAccumulator = values.type == .f16  // ggml's VKQ16 for an f16 V

    for k in 0..<nh {
      keys.prepareQuery(
        q + token * shape.qTokenStride + (heads.lowerBound + k) * hd, prepared + k * queryStride, hd)
      (acc + k * hd).update(repeating: 0, count: hd)
      runningMax[k] = -.infinity
      runningSum[k] = 0
    }
    let capped = logits.softCap > 0
    let scale = capped ? logits.scale / logits.softCap : logits.scale
    let kHead = kCache + kvHead * keys.headBytes
    let vHead = vCache + kvHead * values.headBytes
    for j in logits.mask.visibleKeys(queryPosition: position, nKV: shape.nKV) {
      let kRow = kHead + j * keys.positionBytes
      values.toFloat(vHead + j * values.positionBytes, vRow, hd)
      for k in 0..<nh {
        var s = keys.dot(kRow, prepared + k * queryStride, hd) * scale
        if capped { s = logits.softCap * tanhf(s) }
        let a = acc + k * hd
        let vs = onlineSoftmaxStep(s, max: &runningMax[k], sum: &runningSum[k]) { ms in
          if halfAccumulator {
            qk_f16_acc_scale(a, ms, hd)
          } else {
            for i in 0..<hd { a[i] *= ms }
          }
        }
        if halfAccumulator {
          qk_f16_acc_mad(a, vRow, vs, hd)
        } else {
          madF32(a, vRow, vs, hd)
        }
      }
    }
    writeNormalizedHeads(
      acc, runningMax: runningMax, runningSum: runningSum, into: out, shape: shape, logits: logits,
      token: token,
      heads: heads)
  }

  /// `acc += v · s` (ggml_vec_mad_f32), 8 lanes at a time.
  @inline(__always)
  private static func madF32(
    _ acc: UnsafeMutablePointer<Float>, _ v: UnsafePointer<Float>, _ s: Float, _ n: Int
  ) {
    var i = 0
    while i + 8 <= n {
      SIMDMath.store8(SIMDMath.load8(acc + i) + SIMDMath.load8(v + i) * s, acc + i)
      i += 8
    }
    while i < n {
      acc[i] += v[i] * s
      i += 1
    }
  }

  /// Writes f32 K or V rows into a cache row of any cache type at their positions.
  /// - Parameters:
  ///   - src: `(nTokens, kvDim)` f32, `srcTokenStride` apart.
  ///   - positions: `(nTokens)`; each must be in 0..<nCtx.
  ///   - cache: `(nCtx)` rows of `rowBytes` bytes.
  ///   - store: converts `kvDim` floats into one row.
  static func storeKV(
    _ src: UnsafePointer<Float>, srcTokenStride: Int, positions: UnsafePointer<Int32>,
    into cache: UnsafeMutableRawPointer, rowBytes: Int, nCtx: Int, kvDim: Int, tokens: Range<Int>,
    store: (UnsafePointer<Float>, UnsafeMutableRawPointer, Int) -> Void
  ) throws(CPUOpsError) {
    for t in tokens {
      let position = Int(positions[t])
      guard position >= 0, position < nCtx else {
        throw .positionOutOfRange(position: positions[t], nCtx: nCtx)
      }
      store(src + t * srcTokenStride, cache + position * rowBytes, kvDim)
    }
  }
}

extension CPUBackend {
  /// The reader of a cache of `type` (`[capacity, kvHeads, headDim]`): kernels from this backend's
  /// table; nil for a type no cache can have.
  func cacheReader(_ type: GGMLType, kvHeads: Int, headDim: Int) -> KVCacheReader? {
    guard KVCacheType(type) != nil, let headBytes = type.byteCount(forElements: headDim),
      let vecDot = qk_table_vec_dot(kernels.table, Int32(type.rawValue))
    else { return nil }
    let toFloat: @Sendable (UnsafeRawPointer, UnsafeMutablePointer<Float>, Int) -> Void
    let prepare: @Sendable (UnsafePointer<Float>, UnsafeMutableRawPointer, Int) -> Void
    let queryBytes: Int
    switch type {
    case .f16:
      toFloat = { src, dst, n in qk_fp16_to_fp32_row(src.assumingMemoryBound(to: UInt16.self), dst, n) }
      prepare = { q, dst, n in qk_round_to_fp16(q, dst.assumingMemoryBound(to: Float.self), n) }
      queryBytes = headDim * 4
    case .bf16:
      toFloat = { src, dst, n in
        let h = src.assumingMemoryBound(to: UInt16.self)
        for i in 0..<n { dst[i] = bf16ToFp32(h[i]) }
      }
      prepare = { q, dst, n in
        let d = dst.assumingMemoryBound(to: Float.self)
        for i in 0..<n { d[i] = bf16ToFp32(fp32ToBf16(q[i])) }
      }
      queryBytes = headDim * 4
    default:  // q8_0, q4_0: q as q8_0 blocks, the integer dot kernels
      guard let dequantize = kernels.dequantizer(type),
        let quantize = kernels.quantizer(Int32(GGMLType.q8_0.rawValue)),
        let bytes = GGMLType.q8_0.byteCount(forElements: headDim)
      else { return nil }
      nonisolated(unsafe) let d = dequantize  // a pure function of its arguments
      toFloat = { src, dst, n in d(src, dst, n) }
      prepare = { q, dst, n in quantize(q, dst, Int64(n)) }
      queryBytes = bytes
    }
    return KVCacheReader(
      type: type, headBytes: headBytes, positionBytes: kvHeads * headBytes, queryBytes: queryBytes,
      prepareQuery: prepare, dot: { k, q, n in vecDot(Int32(n), k, q) }, toFloat: toFloat)
  }

  /// Converts `n` floats into one row of a cache of `type` as ggml's CPU backend stores them
  /// (`from_float`): f16/bf16 rounded to nearest even, q8_0 by its `quantize_row_q8_0`, q4_0 by the
  /// reference `quantize_row_q4_0_ref`.
  func cacheRowStore(_ type: GGMLType) -> ((UnsafePointer<Float>, UnsafeMutableRawPointer, Int) -> Void)? {
    switch type {
    case .f16:
      return { src, dst, n in qk_fp32_to_fp16_row(src, dst.assumingMemoryBound(to: UInt16.self), n) }
    case .bf16:
      return { src, dst, n in
        let h = dst.assumingMemoryBound(to: UInt16.self)
        for i in 0..<n { h[i] = fp32ToBf16(src[i]) }
      }
    case .q8_0:
      guard let quantize = kernels.quantizer(Int32(GGMLType.q8_0.rawValue)) else { return nil }
      return { src, dst, n in quantize(src, dst, Int64(n)) }
    case .q4_0:
      guard let codec = GGMLType.q4_0.quantizer else { return nil }
      return { src, dst, n in codec.quantize(src, into: dst, count: n) }
    default:
      return nil
    }
  }
}
