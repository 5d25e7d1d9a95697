/// Reference codecs of this group, registered in ReferenceCodecs.
/// IQ4_NL / IQ4_XS quantize and dequantize; the grid i-quants, TQ1_0/TQ2_0 and MXFP4 live in
/// IQGrids.swift, Ternary.swift and MXFP4.swift.
let iQuantCodecs: [any GGMLDequantizer.Type] = [
  IQ4_NLCodec.self, IQ4_XSCodec.self,
  IQ2_XXSCodec.self, IQ2_XSCodec.self, IQ2_SCodec.self,
  IQ3_XXSCodec.self, IQ3_SCodec.self,
  IQ1_SCodec.self, IQ1_MCodec.self,
  TQ1_0Codec.self, TQ2_0Codec.self,
  MXFP4Codec.self,
]

private let QK4_NL = 32
private let QK_K = 256
private let GROUP_MAX_EPS: Float = 1e-15

/// ggml's `best_index_int8`: the index of the level nearest to `x` in the sorted table `val`
/// (binary search; ties go to the upper level, as the C `<` does).
@inline(__always)
private func best_index_int8(_ val: UnsafePointer<Int8>, _ n: Int, _ x: Float) -> Int {
  if x <= Float(val[0]) { return 0 }
  if x >= Float(val[n - 1]) { return n - 1 }
  var ml = 0
  var mu = n - 1
  while mu - ml > 1 {
    let mav = (ml + mu) / 2
    if x < Float(val[mav]) { mu = mav } else { ml = mav }
  }
  return x - Float(val[mu - 1]) < Float(val[mu]) - x ? mu - 1 : mu
}

/// Port of ggml's `quantize_row_iq4_nl_impl` without an importance matrix (`quant_weights` NULL),
/// which is what the reference quantizers use. One super-block of `superBlockSize` values; for
/// IQ4_NL it is a single 32-block (no 6-bit sub-scales), for IQ4_XS eight of them.
/// Writes the f16 scale at `dh`, the nibbles at `q4`, and for IQ4_XS the sub-scales.
private func quantize_row_iq4_nl_impl(
  superBlockSize: Int, blockSize: Int, x: UnsafePointer<Float>,
  dh: UnsafeMutableRawPointer, q4: UnsafeMutablePointer<UInt8>,
  scalesH: UnsafeMutableRawPointer?, scalesL: UnsafeMutablePointer<UInt8>?,
  scales: UnsafeMutablePointer<Float>, weight: UnsafeMutablePointer<Float>,
  L: UnsafeMutablePointer<UInt8>, values: UnsafePointer<Int8>, ntry: Int
) {
  // ggml computes sigma2 here; it only feeds the importance-matrix weights, so it is omitted.
  q4.update(repeating: 0, count: superBlockSize / 2)
  dh.storeHalf(0, at: 0)

  let v0 = Float(values[0])
  var maxScale: Float = 0
  var amaxScale: Float = 0
  let nb = superBlockSize / blockSize
  for ib in 0..<nb {
    let xb = x + ib * blockSize
    let Lb = L + ib * blockSize
    for j in 0..<blockSize { weight[j] = xb[j] * xb[j] }
    var amax: Float = 0
    var max: Float = 0
    for j in 0..<blockSize {
      let ax = abs(xb[j])
      if ax > amax { amax = ax; max = xb[j] }
    }
    if amax < GROUP_MAX_EPS {
      scales[ib] = 0
      continue
    }
    var d: Float = ntry > 0 ? -max / v0 : max / v0
    var id: Float = 1 / d
    var sumqx: Float = 0
    var sumq2: Float = 0
    for j in 0..<blockSize {
      let al = id * xb[j]
      let l = best_index_int8(values, 16, al)
      Lb[j] = UInt8(l)
      let q = Float(values[l])
      let w = weight[j]
      sumqx += w * q * xb[j]
      sumq2 += w * q * q
    }
    d = sumq2 > 0 ? sumqx / sumq2 : 0
    var best = d * sumqx
    if ntry >= 0 {
      for itry in -ntry...ntry {
        id = Float(itry + Int(values[0])) / max
        sumqx = 0
        sumq2 = 0
        for j in 0..<blockSize {
          let al = id * xb[j]
          let l = best_index_int8(values, 16, al)
          let q = Float(values[l])
          let w = weight[j]
          sumqx += w * q * xb[j]
          sumq2 += w * q * q
        }
        if sumq2 > 0 && sumqx * sumqx > best * sumq2 {
          d = sumqx / sumq2
          best = d * sumqx
        }
      }
    }
    scales[ib] = d
    let absD = abs(d)
    if absD > amaxScale { amaxScale = absD; maxScale = d }
  }

  if nb > 1, let scalesH, let scalesL {
    var sh: UInt16 = 0
    let d = -maxScale / 32
    dh.storeHalf(d, at: 0)
    let id: Float = d != 0 ? 1 / d : 0
    for ib in 0..<nb {
      var l = nearest_int(id * scales[ib])
      l = Swift.max(-32, Swift.min(31, l))
      let dl = d * Float(l)
      let idl: Float = dl != 0 ? 1 / dl : 0
      let Lb = L + ib * blockSize
      let xb = x + ib * blockSize
      for j in 0..<blockSize {
        Lb[j] = UInt8(best_index_int8(values, 16, idl * xb[j]))
      }
      l += 32
      let lLow = UInt8(l & 0xf)
      let lHigh = UInt16(l >> 4)
      if ib % 2 == 0 { scalesL[ib / 2] = lLow } else { scalesL[ib / 2] |= lLow << 4 }
      sh |= lHigh << UInt16(2 * (ib % 8))
    }
    scalesH.storeLE(sh, at: 0)
  } else {
    dh.storeHalf(scales[0], at: 0)
    if ntry > 0 {
      let id: Float = scales[0] != 0 ? 1 / scales[0] : 0
      for j in 0..<superBlockSize {
        L[j] = UInt8(best_index_int8(values, 16, id * x[j]))
      }
    }
  }

  for i in 0..<(superBlockSize / 32) {
    for j in 0..<16 {
      q4[16 * i + j] = L[32 * i + j] | (L[32 * i + 16 + j] << 4)
    }
  }
}

/// The row loop of ggml's IQ4_NL / IQ4_XS reference quantizers (no importance matrix, ntry = 7):
/// scratch once per call, `quantize_row_iq4_nl_impl` per super-block of `superBlockSize` values in
/// `blockBytes` bytes. IQ4_XS (`withScales`) keeps scales_h at 2, scales_l at 4 and its quants at
/// 8; IQ4_NL its quants at 2.
private func quantizeIQ4Row(
  _ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, count: Int, superBlockSize: Int,
  blockBytes: Int,
  withScales: Bool
) {
  var L = [UInt8](repeating: 0, count: superBlockSize)
  var weight = [Float](repeating: 0, count: 32)
  var scales = [Float](repeating: 0, count: superBlockSize / 32)
  let values = kvalues_iq4nl
  for ibl in 0..<(count / superBlockSize) {
    let block = dst + ibl * blockBytes
    L.withUnsafeMutableBufferPointer { L in
      weight.withUnsafeMutableBufferPointer { weight in
        scales.withUnsafeMutableBufferPointer { scales in
          quantize_row_iq4_nl_impl(
            superBlockSize: superBlockSize, blockSize: 32, x: src + superBlockSize * ibl,
            dh: block, q4: (block + (withScales ? 8 : 2)).assumingMemoryBound(to: UInt8.self),
            scalesH: withScales ? block + 2 : nil,
            scalesL: withScales ? (block + 4).assumingMemoryBound(to: UInt8.self) : nil,
            scales: scales.baseAddress!, weight: weight.baseAddress!,
            L: L.baseAddress!, values: values.baseAddress!, ntry: 7)
        }
      }
    }
  }
}

/// IQ4_NL: blocks of 32 values, an f16 scale and 16 bytes of indices into `kvalues_iq4nl`.
/// Layout of block_iq4_nl: d (f16) at 0, qs[16] at 2; 18 bytes.
enum IQ4_NLCodec: BlockDequantizer, GGMLQuantizer {
  static let type = GGMLType.iq4_nl
  static let qk = QK4_NL
  static let blockBytes = 18

  /// ggml's reference path for IQ4_NL (`quantize_iq4_nl` with no importance matrix, ntry = 7).
  static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, count: Int) {
    quantizeIQ4Row(src, dst, count: count, superBlockSize: QK4_NL, blockBytes: blockBytes, withScales: false)
  }

  static func dequantizeBlock(_ block: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = block.loadHalf(at: 0)
    for j in 0..<(QK4_NL / 2) {
      let q = block.load(fromByteOffset: 2 + j, as: UInt8.self)
      y[j] = d * Float(kvalues_iq4nl[Int(q & 0xf)])
      y[j + QK4_NL / 2] = d * Float(kvalues_iq4nl[Int(q >> 4)])
    }
  }
}

/// IQ4_XS: super-blocks of 256 values: an f16 scale, eight 6-bit sub-scales, IQ4_NL nibbles.
/// Layout of block_iq4_xs: d (f16) at 0, scales_h (u16) at 2, scales_l[4] at 4, qs[128] at 8;
/// 136 bytes.
enum IQ4_XSCodec: BlockDequantizer, GGMLQuantizer {
  static let type = GGMLType.iq4_xs
  static let qk = QK_K
  static let blockBytes = 136

  /// ggml's `quantize_row_iq4_xs_ref` = `quantize_iq4_xs` with no importance matrix (ntry = 7).
  static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, count: Int) {
    quantizeIQ4Row(src, dst, count: count, superBlockSize: QK_K, blockBytes: blockBytes, withScales: true)
  }

  static func dequantizeBlock(_ block: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    var y = y
    let d = block.loadHalf(at: 0)
    let scalesH = block.loadLE(at: 2, as: UInt16.self)
    for ib in 0..<(QK_K / 32) {
      let sl = block.load(fromByteOffset: 4 + ib / 2, as: UInt8.self)
      let ls = Int((sl >> UInt8(4 * (ib % 2))) & 0xf) | (Int((scalesH >> UInt16(2 * ib)) & 3) << 4)
      let dl = d * Float(ls - 32)
      let qs = 8 + 16 * ib
      for j in 0..<16 {
        let q = block.load(fromByteOffset: qs + j, as: UInt8.self)
        y[j] = dl * Float(kvalues_iq4nl[Int(q & 0xf)])
        y[j + 16] = dl * Float(kvalues_iq4nl[Int(q >> 4)])
      }
      y += 32
    }
  }
}
