import CPUKernels

// Attention of prompt batches (`CPUOps.attentionF16MaxTokens` tokens or more: the f32 path) over an
// f16 KV cache through CPUKernels' `qk_attention_prompt_f16`: a task is a block of query tokens × one
// KV head, so each block of keys is converted from f16 once for the block's queries and the heads
// sharing that KV head (CPUOps.attention's f32 path converts the visible keys once per query token).
// Same algorithm and precision as that path (f32 online softmax), summed in another order.
extension CPUBackend {
  /// Query tokens per task.
  static let promptAttentionTokens = 16

  /// q / out `(tokens, nHead, headDim)` with the shape's strides; caches `(nCtx, nKVHead, headDim)`
  /// f16; `positions` one per token.
  func promptAttention(
    q: UnsafePointer<Float>, keys: UnsafePointer<UInt16>, values: UnsafePointer<UInt16>, positions: [Int32],
    shape: AttentionShape, logits: AttentionLogits, into out: UnsafeMutablePointer<Float>
  ) {
    let tokens = positions.count
    let qb = CPUBackend.promptAttentionTokens
    let (group, hd) = (shape.groupSize, shape.headDim)
    let blocks = (tokens + qb - 1) / qb
    let floats = qk_attention_prompt_scratch(Int32(qb), Int32(group), Int32(hd))
    let perThread = (floats * 4 + 2 * qb * 4 + 63) / 64 * 64
    let isa = kernels.isa.qkISA
    scratch.with(bytes: pool.threadCount * perThread) { raw in
      positions.withUnsafeBufferPointer { pos in
        // Later blocks see more keys (causal): they go first, so the last tasks are the short ones.
        pool.parallelFor(tasks: blocks * shape.nKVHead) { task, thread in
          let block = blocks - 1 - task / shape.nKVHead
          let kvHead = task % shape.nKVHead
          let t0 = block * qb
          let nq = min(qb, tokens - t0)
          let base = raw + thread * perThread
          let lo = (base + floats * 4).assumingMemoryBound(to: Int32.self)
          let hi = lo + qb
          for t in 0..<nq {
            let visible = logits.mask.visibleKeys(queryPosition: Int(pos[t0 + t]), nKV: shape.nKV)
            lo[t] = Int32(visible.lowerBound)
            hi[t] = Int32(visible.upperBound)
          }
          qk_attention_prompt_f16(
            isa, Int32(nq), Int32(group), Int32(hd), q + t0 * shape.qTokenStride + kvHead * group * hd,
            shape.qTokenStride, keys + kvHead * hd, values + kvHead * hd, shape.kvPositionStride, lo, hi,
            logits.scale, logits.softCap, out + t0 * shape.outTokenStride + kvHead * group * hd,
            shape.outTokenStride, base.assumingMemoryBound(to: Float.self))
        }
      }
    }
  }
}
