// Attention with grouped-query heads over an f16 KV cache, flash-attention style (online softmax, no
// (nTokens × nKV) score matrix), in the precision of ggml's CPU flash attention
// (`ggml_compute_forward_flash_attn_ext_f16`), which llama.cpp uses on the CPU by default
// (`-fa auto`):
// - batches of fewer than `attentionF16MaxTokens` tokens (decode, short prompts): ggml's one-chunk
//   path — q rounded to f16, q·k in ggml_vec_dot_f16's summation order, keys visited one at a
//   time with `expf`, the weighted sum of V kept in an f16 accumulator (rounded after every key),
//   divided by the sum at the end;
// - larger batches: ggml switches to a tiled f32 path; here keys are visited in blocks of
//   `attentionKeyBlock` with f32 accumulators (same algorithm, f32 throughout).
//
// Work items are (token, head) pairs, flattened as `token * nHead + head`; a thread pool hands each
// thread a range of them. Inside a range, the heads of one token that share a KV head (a GQA group)
// are processed together so each K/V block is converted from f16 once per group, not once per head.

import CPUKernels
import GGML

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Sizes and strides of one attention call.
struct AttentionShape: Sendable, Equatable {
  var nHead: Int
  var nKVHead: Int
  var headDim: Int
  /// Valid cache entries: keys/values at positions 0..<nKV.
  var nKV: Int
  /// Floats between consecutive tokens of q.
  var qTokenStride: Int
  /// Halves between consecutive positions of the K and V caches.
  var kvPositionStride: Int
  /// Floats between consecutive tokens of the output.
  var outTokenStride: Int
  /// Tokens of the whole batch (picks the precision path, as ggml does); 0 = unknown (the f16 path).
  var nTokens = 0

  /// Packed layouts: q/out `(nTokens, nHead, headDim)`, caches `(nCtx, nKVHead, headDim)`.
  init(nHead: Int, nKVHead: Int, headDim: Int, nKV: Int) {
    self.nHead = nHead
    self.nKVHead = nKVHead
    self.headDim = headDim
    self.nKV = nKV
    qTokenStride = nHead * headDim
    kvPositionStride = nKVHead * headDim
    outTokenStride = nHead * headDim
  }

  /// Query heads per KV head (nHead is a multiple of nKVHead).
  var groupSize: Int { nHead / nKVHead }
}

extension CPUOps {
  /// Keys per block of the online softmax: two 8-lane vectors of scores; a K block and a V block of
  /// 16 × 256 floats (32 KiB together) stay in L1.
  static let attentionKeyBlock = 16

  /// Batches below this size take the f16 path (ggml's `GGML_FA_TILE_Q`).
  static let attentionF16MaxTokens = 64

  /// Floats of scratch one thread needs for `attention`.
  static func attentionScratchCount(_ shape: AttentionShape) -> Int {
    let hd = shape.headDim
    let block = attentionKeyBlock
    return 2 * block * hd + shape.groupSize * (2 * hd + block + 2)
  }

  static func usesF16Path(_ shape: AttentionShape) -> Bool { shape.nTokens < attentionF16MaxTokens }

  /// `out = softmax(mask(cap(scale · q·Kᵀ))) · V` per (token, head), for the work items `items`.
  /// Query head h reads KV head `h / (nHead / nKVHead)`. A query with no visible key gets zeros.
  /// - Parameters:
  ///   - q: `(nTokens, nHead, headDim)` f32, `qTokenStride` apart.
  ///   - kCache, vCache: `(nCtx, nKVHead, headDim)` f16 bits, `kvPositionStride` apart; entry j
  ///     holds position j, entries 0..<nKV are valid.
  ///   - positions: `(nTokens)` position of each query.
  ///   - out: `(nTokens, nHead, headDim)` f32, `outTokenStride` apart.
  ///   - items: work items `token * nHead + head`.
  ///   - scratch: `attentionScratchCount(shape)` floats, private to the calling thread.
  static func attention(
    q: UnsafePointer<Float>, kCache: UnsafePointer<UInt16>, vCache: UnsafePointer<UInt16>,
    positions: UnsafePointer<Int32>, into out: UnsafeMutablePointer<Float>,
    shape: AttentionShape, logits: AttentionLogits, items: Range<Int>,
    scratch: UnsafeMutablePointer<Float>
  ) {
    forEachHeadGroup(items, shape) { token, heads, kvHead in
      if usesF16Path(shape) {
        attendGroupF16(
          q: q, kCache: kCache, vCache: vCache, position: Int(positions[token]), out: out,
          shape: shape, logits: logits, token: token, heads: heads, kvHead: kvHead, scratch: scratch)
      } else {
        attendGroup(
          q: q, kCache: kCache, vCache: vCache, position: Int(positions[token]), out: out,
          shape: shape, logits: logits, token: token, heads: heads, kvHead: kvHead, scratch: scratch)
      }
    }
  }

  /// Walks the work items `token * nHead + head` of `items` one run of query heads sharing a KV
  /// head at a time: `body(token, heads, kvHead)`.
  @inline(__always)
  static func forEachHeadGroup(
    _ items: Range<Int>, _ shape: AttentionShape,
    _ body: (_ token: Int, _ heads: Range<Int>, _ kvHead: Int) -> Void
  ) {
    let group = shape.groupSize
    var item = items.lowerBound
    while item < items.upperBound {
      let token = item / shape.nHead
      let head = item % shape.nHead
      let kvHead = head / group
      let headEnd = min(items.upperBound - token * shape.nHead, (kvHead + 1) * group)
      body(token, head..<headEnd, kvHead)
      item = token * shape.nHead + headEnd
    }
  }

  /// One key of ggml's online softmax for one head: a score `s` above the running `max` becomes the
  /// max and the accumulator is rescaled by `rescale(ms)`, ms = exp(old max − s); else the key's
  /// weight is exp(s − max). Adds the weight to the running `sum` (after scaling it by ms) and
  /// returns it: the factor of this key's value row.
  @inline(__always)
  static func onlineSoftmaxStep(_ s: Float, max: inout Float, sum: inout Float, rescale: (Float) -> Void)
    -> Float
  {
    var ms: Float = 1
    var vs: Float = 1
    if s > max {
      ms = expf(max - s)
      max = s
      rescale(ms)
    } else {
      vs = expf(s - max)
    }
    sum = sum * ms + vs
    return vs
  }

  /// Writes each head's accumulator `acc` (nh, hd) times its softmax normalizer to `out`.
  @inline(__always)
  static func writeNormalizedHeads(
    _ acc: UnsafeMutablePointer<Float>, runningMax: UnsafePointer<Float>, runningSum: UnsafePointer<Float>,
    into out: UnsafeMutablePointer<Float>, shape: AttentionShape, logits: AttentionLogits, token: Int,
    heads: Range<Int>
  ) {
    let hd = shape.headDim
    for k in 0..<heads.count {
      let dst = out + token * shape.outTokenStride + (heads.lowerBound + k) * hd
      let f = logits.normalizer(total: runningSum[k], max: runningMax[k], head: heads.lowerBound + k)
      CPUOps.scale(acc + k * hd, by: f, into: dst, count: hd)
    }
  }

  /// One token, a run of query heads sharing `kvHead`, as ggml's
  /// `ggml_compute_forward_flash_attn_ext_f16_one_chunk` with f16 K and V (see the file comment).
  /// The scale multiplies q·k after the dot (ggml's `scale` parameter; gemma scales q itself first).
  private static func attendGroupF16(
    q: UnsafePointer<Float>, kCache: UnsafePointer<UInt16>, vCache: UnsafePointer<UInt16>,
    position: Int, out: UnsafeMutablePointer<Float>, shape: AttentionShape, logits: AttentionLogits,
    token: Int, heads: Range<Int>, kvHead: Int, scratch: UnsafeMutablePointer<Float>
  ) {
    let hd = shape.headDim
    let nh = heads.count
    // Scratch layout (floats): kRow (hd) | vRow (hd) | qs (nh, hd) | acc (nh, hd) | M (nh) | S (nh).
    // Fits in `attentionScratchCount` (which sizes the block path: 2·block·hd + nh·(2·hd + block + 2)).
    let kRow = scratch
    let vRow = kRow + hd
    let qs = vRow + hd
    let acc = qs + nh * hd
    let runningMax = acc + nh * hd
    let runningSum = runningMax + nh

    for k in 0..<nh {
      roundRowToHalf(q + token * shape.qTokenStride + (heads.lowerBound + k) * hd, into: qs + k * hd, hd)
      (acc + k * hd).update(repeating: 0, count: hd)
      runningMax[k] = -.infinity
      runningSum[k] = 0
    }
    let capped = logits.softCap > 0
    let scale = capped ? logits.scale / logits.softCap : logits.scale
    let visible = logits.mask.visibleKeys(queryPosition: position, nKV: shape.nKV)
    for j in visible {
      let offset = j * shape.kvPositionStride + kvHead * hd
      SIMDMath.halfToFloat(kCache + offset, kRow, hd)
      SIMDMath.halfToFloat(vCache + offset, vRow, hd)
      for k in 0..<nh {
        var s = dotF16Order(qs + k * hd, kRow, hd) * scale
        if capped { s = logits.softCap * tanhf(s) }
        let a = acc + k * hd
        let vs = onlineSoftmaxStep(s, max: &runningMax[k], sum: &runningSum[k]) {
          scaleHalfAccumulator(a, by: $0, hd)
        }
        madHalfAccumulator(a, vRow, vs, hd)
      }
    }
    writeNormalizedHeads(
      acc, runningMax: runningMax, runningSum: runningSum, into: out, shape: shape, logits: logits,
      token: token,
      heads: heads)
  }

  /// `dst = f16(src)` as f32 values (ggml converts q to the K type before the dot).
  @inline(__always)
  private static func roundRowToHalf(
    _ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, _ n: Int
  ) {
    qk_round_to_fp16(src, dst, n)  // F16C where present, exact scalar otherwise
  }

  /// q·k with ggml_vec_dot_f16's rounding on x86 AVX-512 (4 accumulators of 16 lanes over steps of
  /// 64; a, b hold f16 values, so each product is exact and the FMA is one rounding; the
  /// accumulators are added 0+2, 1+3, then 0+1, then reduced as `_mm512_reduce_add_ps`; the
  /// leftovers past the last 64 are added in double).
  @inline(__always)
  static func dotF16Order(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), s2 = SIMD8<Float>(), s3 = SIMD8<Float>()
    var s4 = SIMD8<Float>(), s5 = SIMD8<Float>(), s6 = SIMD8<Float>(), s7 = SIMD8<Float>()
    var i = 0
    while i + 64 <= n {
      s0 += SIMDMath.load8(a + i) * SIMDMath.load8(b + i)
      s1 += SIMDMath.load8(a + i + 8) * SIMDMath.load8(b + i + 8)
      s2 += SIMDMath.load8(a + i + 16) * SIMDMath.load8(b + i + 16)
      s3 += SIMDMath.load8(a + i + 24) * SIMDMath.load8(b + i + 24)
      s4 += SIMDMath.load8(a + i + 32) * SIMDMath.load8(b + i + 32)
      s5 += SIMDMath.load8(a + i + 40) * SIMDMath.load8(b + i + 40)
      s6 += SIMDMath.load8(a + i + 48) * SIMDMath.load8(b + i + 48)
      s7 += SIMDMath.load8(a + i + 56) * SIMDMath.load8(b + i + 56)
      i += 64
    }
    // sum[0] += sum[2]; sum[1] += sum[3]; sum[0] += sum[1] (sum[j] = lanes (s2j, s2j+1)).
    s0 += s4
    s1 += s5
    s2 += s6
    s3 += s7
    s0 += s2
    s1 += s3
    // _mm512_reduce_add_ps: 16 → 8 → 4 → 2 → 1.
    let t = s0 + s1
    let u = t.lowHalf + t.highHalf
    var total = Double((u[0] + u[2]) + (u[1] + u[3]))
    while i < n {
      total += Double(a[i] * b[i])
      i += 1
    }
    return Float(total)
  }

  /// `acc = f16(acc · s)` (ggml_vec_scale_f16).
  @inline(__always)
  private static func scaleHalfAccumulator(_ acc: UnsafeMutablePointer<Float>, by s: Float, _ n: Int) {
    qk_f16_acc_scale(acc, s, n)
  }

  /// `acc = f16(fma(v, s, acc))` (ggml_vec_mad_f16). The fused multiply-add is evaluated in double
  /// `acc = f16(fma(v, s, acc))` (ggml_vec_mad_f16: one fused rounding to f32, then to f16).
  @inline(__always)
  private static func madHalfAccumulator(
    _ acc: UnsafeMutablePointer<Float>, _ v: UnsafePointer<Float>, _ s: Float, _ n: Int
  ) {
    qk_f16_acc_mad(acc, v, s, n)
  }

  /// One token, a run of query heads sharing `kvHead`.
  private static func attendGroup(
    q: UnsafePointer<Float>, kCache: UnsafePointer<UInt16>, vCache: UnsafePointer<UInt16>,
    position: Int, out: UnsafeMutablePointer<Float>, shape: AttentionShape, logits: AttentionLogits,
    token: Int, heads: Range<Int>, kvHead: Int, scratch: UnsafeMutablePointer<Float>
  ) {
    let hd = shape.headDim
    let block = attentionKeyBlock
    let nh = heads.count
    // Scratch layout (floats): kBlock (block, hd) | vBlock (block, hd) | qs (nh, hd) |
    // acc (nh, hd) | probs (nh, block) | runningMax (nh) | runningSum (nh).
    let kBlock = scratch
    let vBlock = kBlock + block * hd
    let qs = vBlock + block * hd
    let acc = qs + nh * hd
    let probs = acc + nh * hd
    let runningMax = probs + nh * block
    let runningSum = runningMax + nh

    for k in 0..<nh {
      // q in the split order of the converted K/V rows (see SIMDMath.halfToFloatSplitRow).
      SIMDMath.splitOrder(q + token * shape.qTokenStride + (heads.lowerBound + k) * hd, qs + k * hd, hd)
      (acc + k * hd).update(repeating: 0, count: hd)
      runningMax[k] = -.infinity
      runningSum[k] = 0
    }

    let visible = logits.mask.visibleKeys(queryPosition: position, nKV: shape.nKV)
    let capped = logits.softCap > 0
    let invCap = capped ? 1 / logits.softCap : 0
    let lane = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
    var j0 = visible.lowerBound
    while j0 < visible.upperBound {
      let bn = min(block, visible.upperBound - j0)
      for j in 0..<bn {
        let offset = (j0 + j) * shape.kvPositionStride + kvHead * hd
        SIMDMath.halfToFloatSplitRow(kCache + offset, kBlock + j * hd, hd)
        SIMDMath.halfToFloatSplitRow(vCache + offset, vBlock + j * hd, hd)
      }
      for k in 0..<nh {
        let p = probs + k * block
        let qk = qs + k * hd
        for j in 0..<block { p[j] = j < bn ? SIMDMath.dot(qk, kBlock + j * hd, hd) : 0 }
        var s0 = SIMDMath.load8(p) * logits.scale
        var s1 = SIMDMath.load8(p + 8) * logits.scale
        if capped {
          s0 = logits.softCap * SIMDMath.tanh(s0 * invCap)
          s1 = logits.softCap * SIMDMath.tanh(s1 * invCap)
        }
        let bnLanes = Int32(bn)
        s0.replace(with: -.infinity, where: lane .>= bnLanes)
        s1.replace(with: -.infinity, where: lane &+ 8 .>= bnLanes)
        let blockMax = max(s0.max(), s1.max())
        let oldMax = runningMax[k]
        let newMax = max(oldMax, blockMax)
        if newMax > oldMax {
          // Rescale what was accumulated under the old max (exp(-inf) = 0 on the first block).
          let correction = SIMDMath.exp(SIMD8(repeating: oldMax - newMax))[0]
          if correction != 1 {
            CPUOps.scale(acc + k * hd, by: correction, into: acc + k * hd, count: hd)
            runningSum[k] *= correction
          }
          runningMax[k] = newMax
        }
        let e0 = SIMDMath.exp(s0 - newMax)
        let e1 = SIMDMath.exp(s1 - newMax)
        runningSum[k] += (e0 + e1).sum()
        SIMDMath.store8(e0, p)
        SIMDMath.store8(e1, p + 8)
        accumulate(acc + k * hd, probs: p, values: vBlock, count: bn, hd: hd)
      }
      j0 += bn
    }

    for k in 0..<nh {
      let dst = out + token * shape.outTokenStride + (heads.lowerBound + k) * hd
      let f = logits.normalizer(total: runningSum[k], max: runningMax[k], head: heads.lowerBound + k)
      SIMDMath.unsplitOrder(acc + k * hd, dst, hd, scale: f)
    }
  }

  /// `acc += Σ_j probs[j] · values[j]`, the accumulator kept in registers across the block.
  @inline(__always)
  private static func accumulate(
    _ acc: UnsafeMutablePointer<Float>, probs: UnsafePointer<Float>, values: UnsafePointer<Float>,
    count: Int, hd: Int
  ) {
    var c = 0
    while c + 16 <= hd {
      var a0 = SIMDMath.load8(acc + c)
      var a1 = SIMDMath.load8(acc + c + 8)
      for j in 0..<count {
        let pj = probs[j]
        a0 += pj * SIMDMath.load8(values + j * hd + c)
        a1 += pj * SIMDMath.load8(values + j * hd + c + 8)
      }
      SIMDMath.store8(a0, acc + c)
      SIMDMath.store8(a1, acc + c + 8)
      c += 16
    }
    while c + 8 <= hd {
      var a = SIMDMath.load8(acc + c)
      for j in 0..<count { a += probs[j] * SIMDMath.load8(values + j * hd + c) }
      SIMDMath.store8(a, acc + c)
      c += 8
    }
    while c < hd {
      var a = acc[c]
      for j in 0..<count { a += probs[j] * values[j * hd + c] }
      acc[c] = a
      c += 1
    }
  }

  /// Writes f32 K or V rows into the f16 cache at their positions (round to nearest even, as
  /// ggml's `GGML_FP32_TO_FP16`).
  /// - Parameters:
  ///   - src: `(nTokens, kvDim)` f32, `srcTokenStride` apart (kvDim = nKVHead · headDim).
  ///   - positions: `(nTokens)`; each must be in 0..<nCtx.
  ///   - cache: `(nCtx, kvDim)` f16 bits, `cachePositionStride` apart.
  ///   - tokens: the tokens this call stores.
  static func storeKV(
    _ src: UnsafePointer<Float>, srcTokenStride: Int, positions: UnsafePointer<Int32>,
    into cache: UnsafeMutablePointer<UInt16>, cachePositionStride: Int, nCtx: Int,
    kvDim: Int, tokens: Range<Int>
  ) throws(CPUOpsError) {
    for t in tokens {
      let position = Int(positions[t])
      guard position >= 0, position < nCtx else {
        throw .positionOutOfRange(position: positions[t], nCtx: nCtx)
      }
      let row = src + t * srcTokenStride
      let dst = cache + position * cachePositionStride
      for i in 0..<kvDim { dst[i] = fp32ToFp16(row[i]) }
    }
  }
}
