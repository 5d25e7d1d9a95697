import CPUKernels
import Testing

@testable import CPUBackend

/// The prompt-batch attention (blocks of queries per converted key block, PromptAttention.swift)
/// against CPUOps' per-token f32 path on the same inputs: GQA, causal with and without a sliding
/// window, soft-capping, a batch that is not a multiple of the query block.
@Suite struct PromptAttentionTests {
  @Test(arguments: [(0, Float(0)), (16, 0), (0, 30)])
  func equalsPerTokenPath(window: Int, cap: Float) throws {
    let backend = try CPUBackend()
    var rng = OpsReference.Random(seed: 99)
    let (tokens, heads, kvHeads, hd, nKV) = (70, 4, 2, 64, 90)
    var shape = AttentionShape(nHead: heads, nKVHead: kvHeads, headDim: hd, nKV: nKV)
    shape.nTokens = tokens
    #expect(!CPUOps.usesF16Path(shape), "the batch must take the f32 path")
    let q = rng.floats(tokens * heads * hd)
    let k = rng.floats(nKV * kvHeads * hd).map { Float16($0).bitPattern }
    let v = rng.floats(nKV * kvHeads * hd).map { Float16($0).bitPattern }
    let positions = (0..<tokens).map { Int32(nKV - tokens + $0) }
    let logits = AttentionLogits(
      scale: 0.125, softCap: cap, mask: AttentionMask(causal: true, slidingWindow: window))
    var want = [Float](repeating: .nan, count: tokens * heads * hd)
    var scratch = [Float](repeating: 0, count: CPUOps.attentionScratchCount(shape))
    CPUOps.attention(
      q: q, kCache: k, vCache: v, positions: positions, into: &want, shape: shape, logits: logits,
      items: 0..<tokens * heads, scratch: &scratch)
    var got = [Float](repeating: .nan, count: tokens * heads * hd)
    got.withUnsafeMutableBufferPointer { out in
      backend.promptAttention(
        q: q, keys: k, values: v, positions: positions, shape: shape, logits: logits, into: out.baseAddress!)
    }
    let worst = zip(got, want).map { abs($0 - $1) }.max() ?? .nan
    #expect(worst <= 1e-5, "window \(window) cap \(cap): max difference \(worst)")
  }
}
