/// Reference codecs of the 32-value block types q4_0, q4_1, q5_0, q5_1, q8_0, q8_1: ports of
/// ggml-quants.c's `quantize_row_*_ref` and `dequantize_row_*`, with the same float operations in the
/// same order (Swift does not contract a*b+c into FMA, and neither did the golden file's build).
/// Blocks are read and written by byte offset; the offsets are ggml_blocks.h's, and
/// LegacyQuantTests checks them against `MemoryLayout<block_*>.offset(of:)`.
let legacyQuantCodecs: [any GGMLDequantizer.Type] = [
  Q4_0Codec.self, Q4_1Codec.self, Q5_0Codec.self, Q5_1Codec.self, Q8_0Codec.self, Q8_1Codec.self,
  Q8_KCodec.self,
]

/// ggml's `MAX(a, b)` macro, `a > b ? a : b`: kept literally because it treats NaN differently from
/// `Swift.max` (a NaN in `b` wins, a NaN in `a` loses).
@inline(__always)
private func cMax(_ a: Float, _ b: Float) -> Float { a > b ? a : b }

/// (min, max) of `x[0..<n]` as q4_1/q5_1 find them (starting from ±FLT_MAX; NaNs never win).
@inline(__always)
private func minMax(_ x: UnsafePointer<Float>, _ n: Int) -> (min: Float, max: Float) {
  var min = Float.greatestFiniteMagnitude
  var max = -Float.greatestFiniteMagnitude
  for j in 0..<n {
    let v = x[j]
    if v < min { min = v }
    if v > max { max = v }
  }
  return (min, max)
}

/// Stores the block scale `d` as f16 at byte 0 and returns the `id` every quantizer here multiplies by.
@inline(__always)
private func storeScale(_ d: Float, _ y: UnsafeMutableRawPointer) -> Float {
  let id: Float = d != 0 ? 1.0 / d : 0.0
  y.storeHalf(d, at: 0)
  return id
}

/// q8_0 / q8_1: d = amax / 127, stored; returns d and its inverse.
@inline(__always)
private func storeQ8Scale(_ x: UnsafePointer<Float>, _ n: Int, _ y: UnsafeMutableRawPointer) -> (
  d: Float, id: Float
) {
  var amax: Float = 0
  for j in 0..<n { amax = cMax(amax, abs(x[j])) }
  let d = amax / 127  // (1 << 7) - 1
  return (d, storeScale(d, y))
}

/// q4_1 / q5_1: d = (max - min) / `levels` at byte 0 and m = min at byte 2; returns min and 1/d.
@inline(__always)
private func storeMinScale(_ x: UnsafePointer<Float>, _ n: Int, levels: Float, _ y: UnsafeMutableRawPointer)
  -> (min: Float, id: Float)
{
  let (min, max) = minMax(x, n)
  let id = storeScale((max - min) / levels, y)
  y.storeHalf(min, at: 2)
  return (min, id)
}

/// q5_0 / q5_1: the low nibbles of quants j and j + qk/2 into qs[j], their 5th bits into `qh`.
@inline(__always)
private func storeQ5Pair(
  _ xi0: UInt8, _ xi1: UInt8, _ j: Int, qk: Int, _ y: UnsafeMutableRawPointer, qsOffset: Int, qh: inout UInt32
) {
  y.storeBytes(of: (xi0 & 0x0F) | ((xi1 & 0x0F) << 4), toByteOffset: qsOffset + j, as: UInt8.self)
  qh |= UInt32((xi0 & 0x10) >> 4) << UInt32(j)
  qh |= UInt32((xi1 & 0x10) >> 4) << UInt32(j + qk / 2)
}

/// `dequantize_row_q{4,5}_{0,1}`: quant j in the low nibble of qs[j], quant j + qk/2 in the high
/// nibble, each with a 5th bit from `qh` (0 for q4_*); x = (q - offset)·d, + m for the *_1 types.
@inline(__always)
private func dequantizeNibbles(
  _ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, qk: Int, qsOffset: Int, qh: UInt32, offset: Int32,
  d: Float, m: Float?
) {
  for j in 0..<(qk / 2) {
    let xh0 = ((qh >> UInt32(j)) << 4) & 0x10
    let xh1 = (qh >> UInt32(j + 12)) & 0x10
    let q = UInt32(x.load(fromByteOffset: qsOffset + j, as: UInt8.self))
    let x0 = Int32((q & 0x0F) | xh0) - offset
    let x1 = Int32((q >> 4) | xh1) - offset
    if let m {
      y[j] = Float(x0) * d + m
      y[j + qk / 2] = Float(x1) * d + m
    } else {
      y[j] = Float(x0) * d
      y[j + qk / 2] = Float(x1) * d
    }
  }
}

/// `dequantize_row_q8_*`: qk int8 quants at `qsOffset`; x = q·d.
@inline(__always)
func dequantizeInt8(
  _ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, qk: Int, qsOffset: Int, d: Float
) {
  for j in 0..<qk {
    y[j] = Float(x.load(fromByteOffset: qsOffset + j, as: Int8.self)) * d
  }
}

/// block_q4_0 (18 bytes): d: f16 @0, qs[16] @2 — value j in the low nibble of qs[j], value j+16 in
/// the high nibble; x = (q - 8)·d.
enum Q4_0Codec: BlockQuantizer {
  static var type: GGMLType { .q4_0 }
  static let qk = 32  // QK4_0
  static let blockBytes = 18
  static let qsOffset = 2

  static func quantizeBlock(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    // The signed value of largest magnitude maps to -8, so the scale may be negative.
    let id = storeScale(maxByMagnitude(x, qk).max / -8, y)
    for j in 0..<(qk / 2) {
      let x0 = x[j] * id
      let x1 = x[qk / 2 + j] * id
      let xi0 = UInt8(truncatingIfNeeded: Swift.min(15, Int(cTruncToInt8(x0 + 8.5))))
      let xi1 = UInt8(truncatingIfNeeded: Swift.min(15, Int(cTruncToInt8(x1 + 8.5))))
      y.storeBytes(of: xi0 | (xi1 << 4), toByteOffset: qsOffset + j, as: UInt8.self)
    }
  }

  static func dequantizeBlock(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    dequantizeNibbles(x, y, qk: qk, qsOffset: qsOffset, qh: 0, offset: 8, d: x.loadHalf(at: 0), m: nil)
  }
}

/// block_q4_1 (20 bytes): d: f16 @0, m: f16 @2, qs[16] @4; x = q·d + m.
enum Q4_1Codec: BlockQuantizer {
  static var type: GGMLType { .q4_1 }
  static let qk = 32  // QK4_1
  static let blockBytes = 20
  static let qsOffset = 4

  static func quantizeBlock(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    let (min, id) = storeMinScale(x, qk, levels: 15, y)  // (1 << 4) - 1
    for j in 0..<(qk / 2) {
      let x0 = (x[j] - min) * id
      let x1 = (x[qk / 2 + j] - min) * id
      let xi0 = UInt8(truncatingIfNeeded: Swift.min(15, Int(cTruncToInt8(x0 + 0.5))))
      let xi1 = UInt8(truncatingIfNeeded: Swift.min(15, Int(cTruncToInt8(x1 + 0.5))))
      y.storeBytes(of: xi0 | (xi1 << 4), toByteOffset: qsOffset + j, as: UInt8.self)
    }
  }

  static func dequantizeBlock(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    dequantizeNibbles(
      x, y, qk: qk, qsOffset: qsOffset, qh: 0, offset: 0, d: x.loadHalf(at: 0), m: x.loadHalf(at: 2))
  }
}

/// block_q5_0 (22 bytes): d: f16 @0, qh[4] @2 (bit j = 5th bit of value j, little-endian u32),
/// qs[16] @6 (low nibbles as q4_0); x = (q - 16)·d.
enum Q5_0Codec: BlockQuantizer {
  static var type: GGMLType { .q5_0 }
  static let qk = 32  // QK5_0
  static let blockBytes = 22
  static let qhOffset = 2
  static let qsOffset = 6

  static func quantizeBlock(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    let id = storeScale(maxByMagnitude(x, qk).max / -16, y)
    var qh: UInt32 = 0
    for j in 0..<(qk / 2) {
      let x0 = x[j] * id
      let x1 = x[qk / 2 + j] * id
      let xi0 = UInt8(truncatingIfNeeded: Swift.min(31, Int(cTruncToInt8(x0 + 16.5))))
      let xi1 = UInt8(truncatingIfNeeded: Swift.min(31, Int(cTruncToInt8(x1 + 16.5))))
      storeQ5Pair(xi0, xi1, j, qk: qk, y, qsOffset: qsOffset, qh: &qh)
    }
    y.storeLE(qh, at: qhOffset)
  }

  static func dequantizeBlock(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    dequantizeNibbles(
      x, y, qk: qk, qsOffset: qsOffset, qh: x.loadLE(at: qhOffset, as: UInt32.self), offset: 16,
      d: x.loadHalf(at: 0), m: nil)
  }
}

/// block_q5_1 (24 bytes): d: f16 @0, m: f16 @2, qh[4] @4, qs[16] @8; x = q·d + m.
enum Q5_1Codec: BlockQuantizer {
  static var type: GGMLType { .q5_1 }
  static let qk = 32  // QK5_1
  static let blockBytes = 24
  static let qhOffset = 4
  static let qsOffset = 8

  static func quantizeBlock(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    let (min, id) = storeMinScale(x, qk, levels: 31, y)  // (1 << 5) - 1
    var qh: UInt32 = 0
    for j in 0..<(qk / 2) {
      let x0 = (x[j] - min) * id
      let x1 = (x[qk / 2 + j] - min) * id
      // No clamp to 31 here, as in ggml: (x - min)·id ≤ 31 + rounding, + 0.5 truncates to ≤ 31.
      storeQ5Pair(cTruncToUInt8(x0 + 0.5), cTruncToUInt8(x1 + 0.5), j, qk: qk, y, qsOffset: qsOffset, qh: &qh)
    }
    y.storeLE(qh, at: qhOffset)
  }

  static func dequantizeBlock(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    dequantizeNibbles(
      x, y, qk: qk, qsOffset: qsOffset, qh: x.loadLE(at: qhOffset, as: UInt32.self), offset: 0,
      d: x.loadHalf(at: 0), m: x.loadHalf(at: 2))
  }
}

/// block_q8_0 (34 bytes): d: f16 @0, qs[32]: int8 @2; x = q·d.
enum Q8_0Codec: BlockQuantizer {
  static var type: GGMLType { .q8_0 }
  static let qk = 32  // QK8_0
  static let blockBytes = 34
  static let qsOffset = 2

  static func quantizeBlock(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    let id = storeQ8Scale(x, qk, y).id
    for j in 0..<qk {
      // roundf (ties away from zero), then C's float → int8_t conversion.
      y.storeBytes(of: cTruncToInt8((x[j] * id).rounded()), toByteOffset: qsOffset + j, as: Int8.self)
    }
  }

  static func dequantizeBlock(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    dequantizeInt8(x, y, qk: qk, qsOffset: qsOffset, d: x.loadHalf(at: 0))
  }
}

/// block_q8_1 (36 bytes): d: f16 @0, s: f16 @2 (= d·Σqs, used by the q4_1/q5_1 dot products),
/// qs[32]: int8 @4; x = q·d. ggml itself has no `dequantize_row_q8_1` (it only quantizes q8_1 as
/// an activation); q·d is what the golden file holds.
enum Q8_1Codec: BlockQuantizer {
  static var type: GGMLType { .q8_1 }
  static let qk = 32  // QK8_1
  static let blockBytes = 36
  static let qsOffset = 4

  static func quantizeBlock(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    let (d, id) = storeQ8Scale(x, qk, y)
    var sum: Int32 = 0
    for j in 0..<(qk / 2) {
      let q0 = cTruncToInt8((x[j] * id).rounded())
      let q1 = cTruncToInt8((x[qk / 2 + j] * id).rounded())
      y.storeBytes(of: q0, toByteOffset: qsOffset + j, as: Int8.self)
      y.storeBytes(of: q1, toByteOffset: qsOffset + qk / 2 + j, as: Int8.self)
      sum += Int32(q0) + Int32(q1)
    }
    y.storeHalf(Float(sum) * d, at: 2)
  }

  static func dequantizeBlock(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    dequantizeInt8(x, y, qk: qk, qsOffset: qsOffset, d: x.loadHalf(at: 0))
  }
}
