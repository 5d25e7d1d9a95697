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

/// The value of largest magnitude in `x[0..<n]`, first one on ties (ggml's `amax`/`max` loop of
/// q4_0/q5_0). Returns 0 when all are zero (or NaN).
@inline(__always)
private func signedAbsMax(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
  var amax: Float = 0
  var max: Float = 0
  for j in 0..<n {
    let v = x[j]
    if amax < abs(v) {
      amax = abs(v)
      max = v
    }
  }
  return max
}

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

/// block_q4_0 (18 bytes): d: f16 @0, qs[16] @2 — value j in the low nibble of qs[j], value j+16 in
/// the high nibble; x = (q - 8)·d.
enum Q4_0Codec: GGMLQuantizer {
  static var type: GGMLType { .q4_0 }
  static let qk = 32  // QK4_0
  static let blockBytes = 18
  static let qsOffset = 2

  static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, count: Int) {
    for i in 0..<(count / qk) {
      let x = src + i * qk
      let y = dst + i * blockBytes
      // The signed value of largest magnitude maps to -8, so the scale may be negative.
      let d = signedAbsMax(x, qk) / -8
      let id: Float = d != 0 ? 1.0 / d : 0.0
      y.storeHalf(d, at: 0)
      for j in 0..<(qk / 2) {
        let x0 = x[j] * id
        let x1 = x[qk / 2 + j] * id
        let xi0 = UInt8(truncatingIfNeeded: Swift.min(15, Int(cTruncToInt8(x0 + 8.5))))
        let xi1 = UInt8(truncatingIfNeeded: Swift.min(15, Int(cTruncToInt8(x1 + 8.5))))
        y.storeBytes(of: xi0 | (xi1 << 4), toByteOffset: qsOffset + j, as: UInt8.self)
      }
    }
  }

  static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<(count / qk) {
      let x = src + i * blockBytes
      let y = dst + i * qk
      let d = x.loadHalf(at: 0)
      for j in 0..<(qk / 2) {
        let q = x.load(fromByteOffset: qsOffset + j, as: UInt8.self)
        let x0 = Int32(q & 0x0F) - 8
        let x1 = Int32(q >> 4) - 8
        y[j] = Float(x0) * d
        y[j + qk / 2] = Float(x1) * d
      }
    }
  }
}

/// block_q4_1 (20 bytes): d: f16 @0, m: f16 @2, qs[16] @4; x = q·d + m.
enum Q4_1Codec: GGMLQuantizer {
  static var type: GGMLType { .q4_1 }
  static let qk = 32  // QK4_1
  static let blockBytes = 20
  static let qsOffset = 4

  static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, count: Int) {
    for i in 0..<(count / qk) {
      let x = src + i * qk
      let y = dst + i * blockBytes
      let (min, max) = minMax(x, qk)
      let d = (max - min) / 15  // (1 << 4) - 1
      let id: Float = d != 0 ? 1.0 / d : 0.0
      y.storeHalf(d, at: 0)
      y.storeHalf(min, at: 2)
      for j in 0..<(qk / 2) {
        let x0 = (x[j] - min) * id
        let x1 = (x[qk / 2 + j] - min) * id
        let xi0 = UInt8(truncatingIfNeeded: Swift.min(15, Int(cTruncToInt8(x0 + 0.5))))
        let xi1 = UInt8(truncatingIfNeeded: Swift.min(15, Int(cTruncToInt8(x1 + 0.5))))
        y.storeBytes(of: xi0 | (xi1 << 4), toByteOffset: qsOffset + j, as: UInt8.self)
      }
    }
  }

  static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<(count / qk) {
      let x = src + i * blockBytes
      let y = dst + i * qk
      let d = x.loadHalf(at: 0)
      let m = x.loadHalf(at: 2)
      for j in 0..<(qk / 2) {
        let q = x.load(fromByteOffset: qsOffset + j, as: UInt8.self)
        y[j] = Float(q & 0x0F) * d + m
        y[j + qk / 2] = Float(q >> 4) * d + m
      }
    }
  }
}

/// block_q5_0 (22 bytes): d: f16 @0, qh[4] @2 (bit j = 5th bit of value j, little-endian u32),
/// qs[16] @6 (low nibbles as q4_0); x = (q - 16)·d.
enum Q5_0Codec: GGMLQuantizer {
  static var type: GGMLType { .q5_0 }
  static let qk = 32  // QK5_0
  static let blockBytes = 22
  static let qhOffset = 2
  static let qsOffset = 6

  static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, count: Int) {
    for i in 0..<(count / qk) {
      let x = src + i * qk
      let y = dst + i * blockBytes
      let d = signedAbsMax(x, qk) / -16
      let id: Float = d != 0 ? 1.0 / d : 0.0
      y.storeHalf(d, at: 0)
      var qh: UInt32 = 0
      for j in 0..<(qk / 2) {
        let x0 = x[j] * id
        let x1 = x[qk / 2 + j] * id
        let xi0 = UInt8(truncatingIfNeeded: Swift.min(31, Int(cTruncToInt8(x0 + 16.5))))
        let xi1 = UInt8(truncatingIfNeeded: Swift.min(31, Int(cTruncToInt8(x1 + 16.5))))
        y.storeBytes(of: (xi0 & 0x0F) | ((xi1 & 0x0F) << 4), toByteOffset: qsOffset + j, as: UInt8.self)
        qh |= UInt32((xi0 & 0x10) >> 4) << UInt32(j)
        qh |= UInt32((xi1 & 0x10) >> 4) << UInt32(j + qk / 2)
      }
      y.storeLE(qh, at: qhOffset)
    }
  }

  static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<(count / qk) {
      let x = src + i * blockBytes
      let y = dst + i * qk
      let d = x.loadHalf(at: 0)
      let qh = x.loadLE(at: qhOffset, as: UInt32.self)
      for j in 0..<(qk / 2) {
        let xh0 = ((qh >> UInt32(j)) << 4) & 0x10
        let xh1 = (qh >> UInt32(j + 12)) & 0x10
        let q = UInt32(x.load(fromByteOffset: qsOffset + j, as: UInt8.self))
        let x0 = Int32((q & 0x0F) | xh0) - 16
        let x1 = Int32((q >> 4) | xh1) - 16
        y[j] = Float(x0) * d
        y[j + qk / 2] = Float(x1) * d
      }
    }
  }
}

/// block_q5_1 (24 bytes): d: f16 @0, m: f16 @2, qh[4] @4, qs[16] @8; x = q·d + m.
enum Q5_1Codec: GGMLQuantizer {
  static var type: GGMLType { .q5_1 }
  static let qk = 32  // QK5_1
  static let blockBytes = 24
  static let qhOffset = 4
  static let qsOffset = 8

  static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, count: Int) {
    for i in 0..<(count / qk) {
      let x = src + i * qk
      let y = dst + i * blockBytes
      let (min, max) = minMax(x, qk)
      let d = (max - min) / 31  // (1 << 5) - 1
      let id: Float = d != 0 ? 1.0 / d : 0.0
      y.storeHalf(d, at: 0)
      y.storeHalf(min, at: 2)
      var qh: UInt32 = 0
      for j in 0..<(qk / 2) {
        let x0 = (x[j] - min) * id
        let x1 = (x[qk / 2 + j] - min) * id
        // No clamp to 31 here, as in ggml: (x - min)·id ≤ 31 + rounding, + 0.5 truncates to ≤ 31.
        let xi0 = cTruncToUInt8(x0 + 0.5)
        let xi1 = cTruncToUInt8(x1 + 0.5)
        y.storeBytes(of: (xi0 & 0x0F) | ((xi1 & 0x0F) << 4), toByteOffset: qsOffset + j, as: UInt8.self)
        qh |= UInt32((xi0 & 0x10) >> 4) << UInt32(j)
        qh |= UInt32((xi1 & 0x10) >> 4) << UInt32(j + qk / 2)
      }
      y.storeLE(qh, at: qhOffset)
    }
  }

  static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<(count / qk) {
      let x = src + i * blockBytes
      let y = dst + i * qk
      let d = x.loadHalf(at: 0)
      let m = x.loadHalf(at: 2)
      let qh = x.loadLE(at: qhOffset, as: UInt32.self)
      for j in 0..<(qk / 2) {
        let xh0 = ((qh >> UInt32(j)) << 4) & 0x10
        let xh1 = (qh >> UInt32(j + 12)) & 0x10
        let q = UInt32(x.load(fromByteOffset: qsOffset + j, as: UInt8.self))
        let x0 = Int32((q & 0x0F) | xh0)
        let x1 = Int32((q >> 4) | xh1)
        y[j] = Float(x0) * d + m
        y[j + qk / 2] = Float(x1) * d + m
      }
    }
  }
}

/// block_q8_0 (34 bytes): d: f16 @0, qs[32]: int8 @2; x = q·d.
enum Q8_0Codec: GGMLQuantizer {
  static var type: GGMLType { .q8_0 }
  static let qk = 32  // QK8_0
  static let blockBytes = 34
  static let qsOffset = 2

  static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, count: Int) {
    for i in 0..<(count / qk) {
      let x = src + i * qk
      let y = dst + i * blockBytes
      var amax: Float = 0
      for j in 0..<qk { amax = cMax(amax, abs(x[j])) }
      let d = amax / 127  // (1 << 7) - 1
      let id: Float = d != 0 ? 1.0 / d : 0.0
      y.storeHalf(d, at: 0)
      for j in 0..<qk {
        // roundf (ties away from zero), then C's float → int8_t conversion.
        y.storeBytes(of: cTruncToInt8((x[j] * id).rounded()), toByteOffset: qsOffset + j, as: Int8.self)
      }
    }
  }

  static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<(count / qk) {
      let x = src + i * blockBytes
      let y = dst + i * qk
      let d = x.loadHalf(at: 0)
      for j in 0..<qk {
        y[j] = Float(x.load(fromByteOffset: qsOffset + j, as: Int8.self)) * d
      }
    }
  }
}

/// block_q8_1 (36 bytes): d: f16 @0, s: f16 @2 (= d·Σqs, used by the q4_1/q5_1 dot products),
/// qs[32]: int8 @4; x = q·d. ggml itself has no `dequantize_row_q8_1` (it only quantizes q8_1 as
/// an activation); q·d is what the golden file holds.
enum Q8_1Codec: GGMLQuantizer {
  static var type: GGMLType { .q8_1 }
  static let qk = 32  // QK8_1
  static let blockBytes = 36
  static let qsOffset = 4

  static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, count: Int) {
    for i in 0..<(count / qk) {
      let x = src + i * qk
      let y = dst + i * blockBytes
      var amax: Float = 0
      for j in 0..<qk { amax = cMax(amax, abs(x[j])) }
      let d = amax / 127  // (1 << 7) - 1
      let id: Float = d != 0 ? 1.0 / d : 0.0
      y.storeHalf(d, at: 0)
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
  }

  static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<(count / qk) {
      let x = src + i * blockBytes
      let y = dst + i * qk
      let d = x.loadHalf(at: 0)
      for j in 0..<qk {
        y[j] = Float(x.load(fromByteOffset: qsOffset + j, as: Int8.self)) * d
      }
    }
  }
}
