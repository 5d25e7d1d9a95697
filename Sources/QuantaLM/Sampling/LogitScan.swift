import Foundation

/// The sampler's passes over a whole row of logits (262,144 values for Gemma 3): eight lanes at a
/// time, so that a token's sampling stays a small fraction of its decode step. Everything else the
/// sampler does touches only the few candidates these passes select.
enum LogitScan {
  typealias Lanes = SIMD8<Float>

  @inline(__always)
  static func load(_ base: UnsafePointer<Float>, _ i: Int) -> Lanes {
    UnsafeRawPointer(base + i).loadUnaligned(as: Lanes.self)
  }

  /// The largest value (NaN is ignored; −infinity for an empty or all-NaN row).
  static func max(_ x: UnsafeBufferPointer<Float>) -> Float {
    guard let base = x.baseAddress else { return -.infinity }
    var acc = Lanes(repeating: -.infinity)
    var i = 0
    while i + 8 <= x.count {
      let v = load(base, i)
      acc.replace(with: v, where: v .> acc)
      i += 8
    }
    var m = acc.max()
    while i < x.count {
      if x[i] > m { m = x[i] }
      i += 1
    }
    return m
  }

  /// The index of the first largest value (0 for an all-NaN row).
  static func argmax(_ x: UnsafeBufferPointer<Float>) -> Int {
    let m = max(x)
    guard let base = x.baseAddress else { return 0 }
    var i = 0
    while i + 8 <= x.count {
      if any(load(base, i) .== m) { break }
      i += 8
    }
    return x[i...].firstIndex(of: m) ?? 0
  }

  /// Sorts `ids` by `x[id]`, largest first, the lower id first among equal values: one integer
  /// key per id (the value's bits made monotonic, then the id) and the standard library's sort,
  /// with no comparison closure (the gathered set can hold thousands of ids).
  static func sortDescending(_ ids: inout [Int32], by x: (Int32) -> Float) {
    var keys = ids.map { id -> UInt64 in
      let bits = x(id).bitPattern
      let ascending = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
      return UInt64(~ascending) << 32 | UInt64(UInt32(bitPattern: id))
    }
    keys.sort()
    for (i, k) in keys.enumerated() { ids[i] = Int32(bitPattern: UInt32(truncatingIfNeeded: k)) }
  }

  /// `Σ exp((x[i] − offset) · scale)` in double precision, and `out[i]` = each term when given.
  @discardableResult
  static func expSum(
    _ x: UnsafeBufferPointer<Float>, offset: Float, scale: Float = 1,
    into out: UnsafeMutableBufferPointer<Float>? = nil
  ) -> Double {
    guard let base = x.baseAddress else { return 0 }
    let dst = out?.baseAddress
    var total = 0.0
    var i = 0
    // Float lanes per block of 1,024 values, then into a double: keeps the sum of 262,144 terms exact to ~1e-7.
    while i + 8 <= x.count {
      let end = Swift.min(x.count - x.count % 8, i + 1024)
      var acc = Lanes()
      while i < end {
        let e = exp8((load(base, i) - offset) * scale)
        if let dst { UnsafeMutableRawPointer(dst + i).storeBytes(of: e, as: Lanes.self) }
        acc += e
        i += 8
      }
      total += Double(acc.sum())
    }
    while i < x.count {
      let e = Foundation.exp((x[i] - offset) * scale)
      dst?[i] = e
      total += Double(e)
      i += 1
    }
    return total
  }

  /// Appends to `ids` the index of every value ≥ `floor`, in index order.
  static func indices(_ x: UnsafeBufferPointer<Float>, atLeast floor: Float, into ids: inout [Int32]) {
    guard let base = x.baseAddress else { return }
    var i = 0
    while i + 8 <= x.count {
      // Most lanes are below the floor: one compare for eight of them.
      if any(load(base, i) .>= floor) {
        for j in i..<(i + 8) where x[j] >= floor { ids.append(Int32(j)) }
      }
      i += 8
    }
    while i < x.count {
      if x[i] >= floor { ids.append(Int32(i)) }
      i += 1
    }
  }

  /// The `k` largest values' indices, largest first (ties: the lower index first), by a bounded
  /// min-heap: O(n) compares and O(k log k) for the few values that enter, never a full sort.
  static func topK(_ x: UnsafeBufferPointer<Float>, k: Int, into ids: inout [Int32]) {
    precondition(k > 0 && k <= x.count, "top-k \(k) of \(x.count)")  // the caller clamps k
    // heap[0] is the weakest kept index: the smallest value, the higher index among equal values.
    var heap = [Int32](unsafeUninitializedCapacity: k) { _, n in n = 0 }
    func value(_ i: Int32) -> Float { x[Int(i)].isNaN ? -.infinity : x[Int(i)] }
    func weaker(_ a: Int32, _ b: Int32) -> Bool {
      let va = value(a)
      let vb = value(b)
      return va < vb || (va == vb && a > b)
    }
    func siftDown(_ start: Int) {
      var i = start
      while true {
        var w = i
        let l = 2 * i + 1
        let r = l + 1
        if l < heap.count && weaker(heap[l], heap[w]) { w = l }
        if r < heap.count && weaker(heap[r], heap[w]) { w = r }
        if w == i { return }
        heap.swapAt(i, w)
        i = w
      }
    }
    for i in 0..<k { heap.append(Int32(i)) }
    for i in stride(from: k / 2 - 1, through: 0, by: -1) { siftDown(i) }
    guard let base = x.baseAddress else { return }
    var threshold = value(heap[0])
    // A later index enters only when strictly larger than the weakest (it loses ties).
    func offer(_ j: Int) {
      if x[j] > threshold {
        heap[0] = Int32(j)
        siftDown(0)
        threshold = value(heap[0])
      }
    }
    var i = k
    while i < x.count && i % 8 != 0 {
      offer(i)
      i += 1
    }
    while i + 8 <= x.count {
      if any(load(base, i) .> threshold) {
        for j in i..<(i + 8) { offer(j) }
      }
      i += 8
    }
    while i < x.count {
      offer(i)
      i += 1
    }
    heap.sort { weaker($1, $0) }
    ids.append(contentsOf: heap)
  }
}

/// `exp` of eight lanes (Cephes' expf: range reduction by ln 2, degree-5 polynomial; within 2 ulp).
@inline(__always)
func exp8(_ input: SIMD8<Float>) -> SIMD8<Float> {
  // Below −87.3 the result is a subnormal or zero, above 88.7 infinity: clamp to stay in range.
  var x = input.clamped(lowerBound: SIMD8(repeating: -87.3), upperBound: SIMD8(repeating: 88.7))
  // Round x·log2(e) to an integer n with the 1.5·2^23 trick (no SIMD float-to-int rounding needed).
  let magic = SIMD8<Float>(repeating: 12_582_912)
  let shifted = x * 1.442_695_04 + magic
  let n = shifted - magic
  x = x - n * 0.693_359_375 + n * 2.121_944_4e-4
  var y = SIMD8<Float>(repeating: 1.987_569_15e-4)
  y = y * x + 1.398_199_95e-3
  y = y * x + 8.333_451_9e-3
  y = y * x + 4.166_579_59e-2
  y = y * x + 0.166_666_655
  y = y * x + 0.500_000_01
  y = y * x * x + x + 1
  // 2^n from the integer's bits: (n + 127) << 23.
  let bits = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
  let scale = unsafeBitCast((bits &+ 127) &<< 23, to: SIMD8<Float>.self)
  var result = y * scale
  // The clamp hides −infinity (a banned token): keep it exactly zero.
  result.replace(with: 0, where: input .< -87.3)
  return result
}
