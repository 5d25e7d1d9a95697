/// q4_K, q5_K and q6_K: ports of ggml's `quantize_row_q{4,5,6}_K_ref` and `dequantize_row_q{4,5,6}_K`.

extension KQuant {
  /// The shared first half of `quantize_row_q4_K_ref` / `quantize_row_q5_K_ref`: per group of 32,
  /// an asymmetric fit by `make_qkx2_quants` weighted by rms(x) + |x|, then the 8 (scale, min)
  /// pairs quantized to 6 bits against f16 `d` / `dmin` (written at byte offsets 0 and 2), and
  /// finally each group re-quantized to [0, nmax] against its rounded scale and min.
  static func quantizeScaleMinBlock(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<UInt8>, nmax: Int, rmin: Float, nstep: Int,
    scratch: ScaleMinScratch
  ) {
    let (L, Laux, weights, mins, scales) =
      (scratch.L, scratch.Laux, scratch.weights, scratch.mins, scratch.scales)
    var maxScale: Float = 0  // as we are deducting the min, scales are always positive
    var maxMin: Float = 0
    for j in 0..<QK_K / 32 {
      var sumX2: Float = 0
      for l in 0..<32 { sumX2 += x[32 * j + l] * x[32 * j + l] }
      let avX = (sumX2 / 32).squareRoot()
      for l in 0..<32 { weights[l] = avX + abs(x[32 * j + l]) }
      scales[j] = make_qkx2_quants(
        32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1, nstep, false)
      let scale = scales[j]
      if scale > maxScale { maxScale = scale }
      let min = mins[j]
      if min > maxMin { maxMin = min }
    }

    let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
    let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
    for j in 0..<QK_K / 32 {
      // C stores nearest_int into a uint8_t before clamping: keep that truncation.
      scratch.ls[j] = Swift.min(63, UInt8(truncatingIfNeeded: nearest_int(invScale * scales[j])))
      scratch.lm[j] = Swift.min(63, UInt8(truncatingIfNeeded: nearest_int(invMin * mins[j])))
    }
    let ysc = y + 4
    set_scales_k4(scratch.ls, scratch.lm, ysc)
    storeHalf(maxScale / 63, y, 0)
    storeHalf(maxMin / 63, y, 2)

    // Re-quantize against the rounded scales; a group whose scale rounded to 0 keeps its L.
    for j in 0..<QK_K / 32 {
      let (sc, m) = get_scale_min_k4(j, ysc)
      let d = loadHalf(y, 0) * Float(sc)
      if d == 0 { continue }
      let dm = loadHalf(y, 2) * Float(m)
      for ii in 0..<32 {
        var l = nearest_int((x[32 * j + ii] + dm) / d)
        l = Swift.max(0, Swift.min(nmax, l))
        L[32 * j + ii] = UInt8(l)
      }
    }
  }

  /// `quantize_row_q4_K_ref` / `quantize_row_q5_K_ref`: each block through `quantizeScaleMinBlock`,
  /// then `pack` stores its quants `L` into the block at `y`.
  static func quantizeScaleMinRow(
    _ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, count: Int, typeSize: Int, nmax: Int,
    rmin: Float, nstep: Int,
    pack: (_ L: UnsafeMutablePointer<UInt8>, _ y: UnsafeMutablePointer<UInt8>) -> Void
  ) {
    let nb = count / QK_K
    let out = dst.bindMemory(to: UInt8.self, capacity: nb * typeSize)
    let scratch = ScaleMinScratch()
    defer { scratch.deallocate() }
    for i in 0..<nb {
      let y = out + i * typeSize
      quantizeScaleMinBlock(src + i * QK_K, y, nmax: nmax, rmin: rmin, nstep: nstep, scratch: scratch)
      pack(scratch.L, y)
    }
  }

  /// `dequantize_row_q4_K` / `dequantize_row_q5_K`: d, dmin (f16) at bytes 0 and 2, the 6-bit
  /// (scale, min) pairs at 4, 4-bit quants at `qsOffset` (32 bytes per 64 values, low nibbles first)
  /// and, for q5_K, their 5th bits at `qhOffset`; x = d·sc·q - dmin·m per group of 32.
  @inline(__always)
  static func dequantizeScaleMin(
    _ x: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>, qsOffset: Int, qhOffset: Int?
  ) {
    var y = y
    let d = loadHalf(x, 0)
    let min = loadHalf(x, 2)
    let scales = x + 4
    let qh = qhOffset.map { x + $0 }
    var ql = x + qsOffset
    var u1: UInt8 = 1
    var u2: UInt8 = 2
    // 16 where bit `u` of qh[l] is set (q5_K's 5th bit), else 0.
    @inline(__always) func high(_ l: Int, _ u: UInt8) -> Int { qh.map { $0[l] & u != 0 ? 16 : 0 } ?? 0 }
    for is0 in stride(from: 0, to: QK_K / 32, by: 2) {
      let (sc1, m1i) = get_scale_min_k4(is0, scales)
      let d1 = d * Float(sc1)
      let m1 = min * Float(m1i)
      let (sc2, m2i) = get_scale_min_k4(is0 + 1, scales)
      let d2 = d * Float(sc2)
      let m2 = min * Float(m2i)
      for l in 0..<32 { y[l] = d1 * Float(Int(ql[l] & 0xF) + high(l, u1)) - m1 }
      for l in 0..<32 { y[32 + l] = d2 * Float(Int(ql[l] >> 4) + high(l, u2)) - m2 }
      y += 64
      ql += 32
      u1 <<= 2
      u2 <<= 2
    }
  }

  /// Scratch buffers of `quantizeScaleMinBlock`, allocated once per quantize call.
  struct ScaleMinScratch {
    let L = UnsafeMutablePointer<UInt8>.allocate(capacity: QK_K)
    let Laux = UnsafeMutablePointer<UInt8>.allocate(capacity: 32)
    let weights = UnsafeMutablePointer<Float>.allocate(capacity: 32)
    let mins = UnsafeMutablePointer<Float>.allocate(capacity: QK_K / 32)
    let scales = UnsafeMutablePointer<Float>.allocate(capacity: QK_K / 32)
    let ls = UnsafeMutablePointer<UInt8>.allocate(capacity: QK_K / 32)
    let lm = UnsafeMutablePointer<UInt8>.allocate(capacity: QK_K / 32)

    func deallocate() {
      L.deallocate(); Laux.deallocate(); weights.deallocate(); mins.deallocate(); scales.deallocate()
      ls.deallocate(); lm.deallocate()
    }
  }

  /// block_q4_K (144 bytes): d, dmin (f16), scales[12] (8 packed 6-bit scale/min pairs, see
  /// `get_scale_min_k4`), qs[128] (4-bit quants: 32 bytes per 64 values, low nibbles first).
  enum Q4_K: KQuantCodec {
    static var type: GGMLType { .q4_K }
    static let typeSize = 144
    static let qsOffset = 16

    static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, count: Int) {
      quantizeScaleMinRow(src, dst, count: count, typeSize: typeSize, nmax: 15, rmin: -1, nstep: 20) { L, y in
        var q = y + qsOffset
        for j in stride(from: 0, to: QK_K, by: 64) {
          for l in 0..<32 { q[l] = L[j + l] | (L[j + l + 32] << 4) }
          q += 32
        }
      }
    }

    static func dequantize(block x: UnsafePointer<UInt8>, into y: UnsafeMutablePointer<Float>) {
      dequantizeScaleMin(x, y, qsOffset: qsOffset, qhOffset: nil)
    }
  }

  /// block_q5_K (176 bytes): d, dmin (f16), scales[12] (as q4_K), qh[32] (bit 4 of each quant:
  /// bit 2k / 2k+1 of qh[l] for the low / high nibbles of the k-th 32-byte run of qs), qs[128].
  enum Q5_K: KQuantCodec {
    static var type: GGMLType { .q5_K }
    static let typeSize = 176
    static let qhOffset = 16
    static let qsOffset = 48

    static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, count: Int) {
      quantizeScaleMinRow(src, dst, count: count, typeSize: typeSize, nmax: 31, rmin: -0.5, nstep: 15) {
        L, y in
        let qh = y + qhOffset
        var ql = y + qsOffset
        for j in 0..<QK_K / 8 { qh[j] = 0 }
        var m1: UInt8 = 1
        var m2: UInt8 = 2
        for n in stride(from: 0, to: QK_K, by: 64) {
          for j in 0..<32 {
            var l1 = L[n + j]
            if l1 > 15 {
              l1 -= 16
              qh[j] |= m1
            }
            var l2 = L[n + j + 32]
            if l2 > 15 {
              l2 -= 16
              qh[j] |= m2
            }
            ql[j] = l1 | (l2 << 4)
          }
          m1 <<= 2
          m2 <<= 2
          ql += 32
        }
      }
    }

    static func dequantize(block x: UnsafePointer<UInt8>, into y: UnsafeMutablePointer<Float>) {
      dequantizeScaleMin(x, y, qsOffset: qsOffset, qhOffset: qhOffset)
    }
  }

  /// block_q6_K (210 bytes): ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8, per
  /// 16 values), d (f16). Quants are stored offset by 32.
  enum Q6_K: KQuantCodec {
    static var type: GGMLType { .q6_K }
    static let typeSize = 210
    static let qlOffset = 0
    static let qhOffset = 128
    static let scalesOffset = 192
    static let dOffset = 208

    static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, count: Int) {
      quantizeRow(src, dst, count: count, typeSize: typeSize) { x, y, L, scales in
        for ib in 0..<QK_K / 16 {
          scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, 1, nil)
        }
        let (maxScale, maxAbsScale) = maxByMagnitude(scales, QK_K / 16)

        if maxAbsScale < GROUP_MAX_EPS {
          for b in 0..<typeSize { y[b] = 0 }  // f16 0 is all-zero bits too
          return
        }

        let iscale = -128 / maxScale
        storeHalf(1 / iscale, y, dOffset)
        let ysc = y + scalesOffset
        for ib in 0..<QK_K / 16 {
          let s = Swift.min(127, nearest_int(iscale * scales[ib]))
          ysc[ib] = UInt8(truncatingIfNeeded: s)
        }

        for j in 0..<QK_K / 16 {
          requantizeGroup16(x, L, j, d: loadHalf(y, dOffset) * Float(Int8(bitPattern: ysc[j])), nmax: 32)
        }

        var ql = y + qlOffset
        var qh = y + qhOffset
        for j in stride(from: 0, to: QK_K, by: 128) {
          for l in 0..<32 {
            let L0 = UInt8(bitPattern: L[j + l])
            let L1 = UInt8(bitPattern: L[j + l + 32])
            let L2 = UInt8(bitPattern: L[j + l + 64])
            let L3 = UInt8(bitPattern: L[j + l + 96])
            ql[l] = (L0 & 0xF) | ((L2 & 0xF) << 4)
            ql[l + 32] = (L1 & 0xF) | ((L3 & 0xF) << 4)
            qh[l] = (L0 >> 4) | ((L1 >> 4) << 2) | ((L2 >> 4) << 4) | ((L3 >> 4) << 6)
          }
          ql += 64
          qh += 32
        }
      }
    }

    static func dequantize(block x: UnsafePointer<UInt8>, into y: UnsafeMutablePointer<Float>) {
      let d = loadHalf(x, dOffset)
      // Each half of the block (128 values): 64 bytes of ql, 32 of qh, 8 scales.
      for half in 0..<QK_K / 128 {
        let (ql, qh, sc) = (x + qlOffset + 64 * half, x + qhOffset + 32 * half, x + scalesOffset + 8 * half)
        let y = y + 128 * half
        for l in 0..<32 {
          let s = l / 16
          let q1 = Int((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32
          let q2 = Int((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32
          let q3 = Int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32
          let q4 = Int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32
          y[l] = d * Float(Int8(bitPattern: sc[s])) * Float(q1)
          y[l + 32] = d * Float(Int8(bitPattern: sc[s + 2])) * Float(q2)
          y[l + 64] = d * Float(Int8(bitPattern: sc[s + 4])) * Float(q3)
          y[l + 96] = d * Float(Int8(bitPattern: sc[s + 6])) * Float(q4)
        }
      }
    }
  }
}
