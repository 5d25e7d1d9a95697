// Attention with grouped-query heads over an f16 KV cache, flash-attention style: keys are visited
// in blocks of `attentionKeyBlock` with an online softmax, so no (nTokens × nKV) score matrix exists.
//
// Work items are (token, head) pairs, flattened as `token * nHead + head`; a thread pool hands each
// thread a range of them. Inside a range, the heads of one token that share a KV head (a GQA group)
// are processed together so each K/V block is converted from f16 once per group, not once per head.

import GGML

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

  /// Floats of scratch one thread needs for `attention`.
  static func attentionScratchCount(_ shape: AttentionShape) -> Int {
    let hd = shape.headDim
    let block = attentionKeyBlock
    return 2 * block * hd + shape.groupSize * (2 * hd + block + 2)
  }

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
    let group = shape.groupSize
    var item = items.lowerBound
    while item < items.upperBound {
      let token = item / shape.nHead
      let head = item % shape.nHead
      let kvHead = head / group
      let headEnd = min(items.upperBound - token * shape.nHead, (kvHead + 1) * group)
      attendGroup(
        q: q, kCache: kCache, vCache: vCache, position: Int(positions[token]), out: out,
        shape: shape, logits: logits, token: token, heads: head..<headEnd, kvHead: kvHead,
        scratch: scratch)
      item = token * shape.nHead + headEnd
    }
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
      let total = runningSum[k]
      SIMDMath.unsplitOrder(acc + k * hd, dst, hd, scale: total > 0 ? 1 / total : 0)
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
