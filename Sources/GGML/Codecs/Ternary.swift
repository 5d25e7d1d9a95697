/// TQ1_0 and TQ2_0, ggml's ternary types (BitNet b1.58, TriLMs): values in {-1, 0, 1} × an f16
/// scale. Ports of `quantize_row_tq{1,2}_0_ref` and `dequantize_row_tq{1,2}_0`.

private let QK_K = 256

/// C's `lroundf` as glibc on x86-64 returns it: round half away from zero; NaN and values outside
/// `long` give `LONG_MIN` (C leaves that case unspecified; Swift's conversion would trap).
@inline(__always)
private func lroundf(_ x: Float) -> Int {
  let r = x.rounded(.toNearestOrAwayFromZero)
  // 2^63 is exact in Float; every float below it (and ≥ -2^63) fits in Int.
  guard r >= -9_223_372_036_854_775_808.0, r < 9_223_372_036_854_775_808.0 else { return Int.min }
  return Int(r)
}

/// The trit of `x * id` shifted to {0, 1, 2}, truncated like C's `int xi = lroundf(..) + 1`.
@inline(__always)
private func trit(_ x: Float, _ id: Float) -> UInt8 {
  UInt8(truncatingIfNeeded: Int32(truncatingIfNeeded: lroundf(x * id) &+ 1))
}

/// The block's absolute max with ggml's `MAX(amax, fabsf(v))` (a NaN is dropped by the next value).
@inline(__always)
private func absMax(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
  var amax: Float = 0
  for j in 0..<n {
    let a = abs(x[j])
    amax = amax > a ? amax : a
  }
  return amax
}

/// d = the block's absolute max, stored as f16 at `offset`; returns 1/d (0 for an all-zero block).
@inline(__always)
private func storeScale(_ x: UnsafePointer<Float>, _ block: UnsafeMutableRawPointer, at offset: Int) -> Float
{
  let d = absMax(x, QK_K)
  let id: Float = d != 0 ? 1 / d : 0
  block.storeHalf(d, at: offset)
  return id
}

/// block_tq1_0: qs[48] at 0 (5 trits per byte), qh[4] at 48 (4 trits per byte), d (f16) at 52;
/// 54 bytes. A byte holds its trits as a base-3 fraction of 256, so a trit is read by multiplying
/// by a power of 3 (mod 256) and taking the top of ×3.
enum TQ1_0Codec: BlockQuantizer {
  static let type = GGMLType.tq1_0
  static let qk = QK_K
  static let blockBytes = 54

  static func quantizeBlock(_ x: UnsafePointer<Float>, _ block: UnsafeMutableRawPointer) {
    var x = x
    let id = storeScale(x, block, at: 52)
    // 5 values per byte, along 32 bytes, then along 16 bytes.
    for (start, width) in [(0, 32), (32, 16)] {
      for m in 0..<width {
        var q: UInt8 = 0
        for n in 0..<5 {
          q = q &* 3 &+ trit(x[m + n * width], id)
        }
        // Ceiling division (243 == 3^5).
        let packed = (Int(q) * 256 + (243 - 1)) / 243
        block.storeBytes(of: UInt8(truncatingIfNeeded: packed), toByteOffset: start + m, as: UInt8.self)
      }
      x += 5 * width
    }
    // 4 values per byte.
    for j in 0..<4 {
      var q: UInt8 = 0
      for m in 0..<4 {
        q = q &* 3 &+ trit(x[j + m * 4], id)
      }
      // Shift the first value to the most significant trit.
      q = q &* 3
      let packed = (Int(q) * 256 + (243 - 1)) / 243
      block.storeBytes(of: UInt8(truncatingIfNeeded: packed), toByteOffset: 48 + j, as: UInt8.self)
    }
  }

  private static let pow3: [UInt8] = [1, 3, 9, 27, 81, 243]

  static func dequantizeBlock(_ block: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    var y = y
    @inline(__always) func value(_ byte: UInt8, _ n: Int, _ d: Float) -> Float {
      let q = byte &* pow3[n]
      let xi = Int16((UInt16(q) * 3) >> 8)
      return Float(xi - 1) * d
    }
    let d = block.loadHalf(at: 52)
    for (start, width) in [(0, 32), (32, 16)] {
      for n in 0..<5 {
        for m in 0..<width {
          y.pointee = value(block.load(fromByteOffset: start + m, as: UInt8.self), n, d)
          y += 1
        }
      }
    }
    for n in 0..<4 {
      for j in 0..<4 {
        y.pointee = value(block.load(fromByteOffset: 48 + j, as: UInt8.self), n, d)
        y += 1
      }
    }
  }
}

/// block_tq2_0: qs[64] at 0 (2 bits per value, value + 1), d (f16) at 64; 66 bytes.
enum TQ2_0Codec: BlockQuantizer {
  static let type = GGMLType.tq2_0
  static let qk = QK_K
  static let blockBytes = 66

  static func quantizeBlock(_ x: UnsafePointer<Float>, _ block: UnsafeMutableRawPointer) {
    var x = x
    let id = storeScale(x, block, at: 64)
    for j in stride(from: 0, to: 64, by: 32) {
      for m in 0..<32 {
        var q: UInt8 = 0
        for n in 0..<4 {
          q = q &+ ((trit(x[m + n * 32], id) & 3) << UInt8(2 * n))
        }
        block.storeBytes(of: q, toByteOffset: j + m, as: UInt8.self)
      }
      x += 4 * 32
    }
  }

  static func dequantizeBlock(_ block: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    var y = y
    let d = block.loadHalf(at: 64)
    for j in stride(from: 0, to: 64, by: 32) {
      for l in 0..<4 {
        for m in 0..<32 {
          let q = Int8((block.load(fromByteOffset: j + m, as: UInt8.self) >> UInt8(l * 2)) & 3)
          y.pointee = Float(q - 1) * d
          y += 1
        }
      }
    }
  }
}
