import Foundation
import GGML
import QuantaCore

// The mixture-of-experts ops on the CPU (semantics: QuantaCore's ExpertOps.swift).
//
// `matmulID` groups the (token, slot) pairs of a batch by expert, so each picked expert's weights
// are read once per call: its pairs' input rows are gathered into a scratch matrix `[m, k]`, one
// matmul over the expert's rows of the stacked tensor (the same integer / dequantize kernels as
// every other matmul) writes `[m, n]`, and the rows are scattered to their slots. A pair alone on
// its expert (decode) reads its input row and writes its output slot in place.
extension CPUBackend {
  public func routeExperts(_ logits: Tensor, routing: ExpertRouting, ids: IndexTensor, weights: Tensor) throws
  {
    let (tokens, experts) = (logits.shape[0], logits.shape[1])
    let l = try f32(logits, "routeExperts")
    let w = try f32(weights, "routeExperts")
    let id = try indices(ids, "routeExperts")
    let used = routing.used
    pool.parallelFor(count: tokens, chunk: pool.chunk(for: tokens)) { rows, _ in
      for t in rows {
        routing.route(
          UnsafeBufferPointer(start: l + t * experts, count: experts),
          ids: UnsafeMutableBufferPointer(start: id + t * used, count: used),
          weights: UnsafeMutableBufferPointer(start: w + t * used, count: used))
      }
    }
  }

  public func matmulID(
    _ x: Tensor, weights: QTensor, ids: IndexTensor, options: QMatMulOptions, into out: Tensor
  ) throws {
    let (tokens, xRows, k) = (x.shape[0], x.shape[1], x.shape[2])
    let (experts, n) = (weights.shape[0], weights.shape[1])
    let used = out.shape[1]
    let xs = UnsafePointer(try f32(x, "matmulID"))
    let ys = try f32(out, "matmulID")
    let id = try indices(ids, "matmulID")
    let base = UnsafeRawPointer(try own(weights.buffer, "matmulID").base + weights.byteOffset)
    let rowBytes = weights.rowByteCount
    let expertBytes = n * rowBytes
    // Pairs p = t · used + j grouped by expert (a counting sort, pairs in order within an expert).
    let pairs = tokens * used
    var start = [Int](repeating: 0, count: experts + 1)
    for p in 0..<pairs {
      let e = Int(id[p])
      guard e >= 0, e < experts else {
        throw QuantaError.indexOutOfRange(op: "matmulID (expert id of pair \(p))", index: e, bound: experts)
      }
      start[e + 1] += 1
    }
    for e in 0..<experts { start[e + 1] += start[e] }
    var order = [Int](repeating: 0, count: pairs)
    var fill = start
    for p in 0..<pairs {
      let e = Int(id[p])
      order[fill[e]] = p
      fill[e] += 1
    }
    /// The input row of pair `p`: the token's only row, or its row for slot `j`.
    func input(_ p: Int) -> UnsafePointer<Float> { xs + ((p / used) * xRows + (p % used) % xRows) * k }
    var largest = 0
    for e in 0..<experts { largest = max(largest, start[e + 1] - start[e]) }
    try scratch.with(bytes: largest > 1 ? largest * (k + n) * 4 : 0) { raw in
      let gathered = raw.assumingMemoryBound(to: Float.self)  // (m, k)
      let results = gathered + largest * k  // (m, n)
      for e in 0..<experts where start[e + 1] > start[e] {
        let group = order[start[e]..<start[e + 1]]
        let w = base + e * expertBytes
        if group.count == 1, let p = group.first {
          try matmul(
            input(p), m: 1, k: k, weights: w, n: n, type: weights.type, rowBytes: rowBytes, options: options,
            out: ys + p * n)
          continue
        }
        for (r, p) in group.enumerated() { (gathered + r * k).update(from: input(p), count: k) }
        try matmul(
          gathered, m: group.count, k: k, weights: w, n: n, type: weights.type, rowBytes: rowBytes,
          options: options, out: results)
        for (r, p) in group.enumerated() { (ys + p * n).update(from: results + r * n, count: n) }
      }
    }
  }

  public func mixExperts(_ x: Tensor, weights: Tensor, into out: Tensor) throws {
    let (tokens, used, d) = (x.shape[0], x.shape[1], x.shape[2])
    let xs = try f32(x, "mixExperts")
    let w = try f32(weights, "mixExperts")
    let o = try f32(out, "mixExperts")
    pool.parallelFor(count: tokens, chunk: pool.chunk(for: tokens)) { rows, _ in
      for t in rows {
        let dst = o + t * d
        let src = xs + t * used * d
        let wt = w + t * used
        // llama.cpp: each expert's output times its weight, then the products added in slot order.
        for i in 0..<d { dst[i] = src[i] * wt[0] }
        for j in 1..<max(used, 1) {
          let row = src + j * d
          let wj = wt[j]
          for i in 0..<d { dst[i] = dst[i] + row[i] * wj }
        }
      }
    }
  }

  /// The Int32 values of an index tensor in CPU memory.
  func indices(_ t: IndexTensor, _ op: String) throws -> UnsafeMutablePointer<Int32> {
    (try own(t.buffer, op).base + t.byteOffset).assumingMemoryBound(to: Int32.self)
  }
}
