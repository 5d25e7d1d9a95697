/// q2_K and q3_K: ports of ggml's `quantize_row_q{2,3}_K_ref` and `dequantize_row_q{2,3}_K`.

extension KQuant {
  /// block_q2_K (84 bytes): scales[16] (low nibble: scale, high nibble: min, per 16 values),
  /// qs[64] (2-bit quants), d and dmin (f16 super-block scales of the scales and the mins).
  enum Q2_K: KQuantCodec {
    static var type: GGMLType { .q2_K }
    static let typeSize = 84
    static let scalesOffset = 0
    static let qsOffset = 16
    static let dOffset = 80
    static let dminOffset = 82

    static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, count: Int) {
      let nb = count / QK_K
      let out = dst.bindMemory(to: UInt8.self, capacity: nb * typeSize)
      let L = UnsafeMutablePointer<UInt8>.allocate(capacity: QK_K)
      let Laux = UnsafeMutablePointer<UInt8>.allocate(capacity: 16)
      let weights = UnsafeMutablePointer<Float>.allocate(capacity: 16)
      let mins = UnsafeMutablePointer<Float>.allocate(capacity: QK_K / 16)
      let scales = UnsafeMutablePointer<Float>.allocate(capacity: QK_K / 16)
      defer {
        L.deallocate(); Laux.deallocate(); weights.deallocate(); mins.deallocate(); scales.deallocate()
      }
      let q4scale: Float = 15

      for i in 0..<nb {
        let x = src + i * QK_K
        let y = out + i * typeSize
        var maxScale: Float = 0  // as we are deducting the min, scales are always positive
        var maxMin: Float = 0
        for j in 0..<QK_K / 16 {
          for l in 0..<16 { weights[l] = abs(x[16 * j + l]) }
          scales[j] = make_qkx2_quants(
            16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5, 0.1, 15, true)
          let scale = scales[j]
          if scale > maxScale { maxScale = scale }
          let min = mins[j]
          if min > maxMin { maxMin = min }
        }

        let ysc = y + scalesOffset
        if maxScale > 0 {
          let iscale = q4scale / maxScale
          for j in 0..<QK_K / 16 {
            ysc[j] = UInt8(truncatingIfNeeded: nearest_int(iscale * scales[j]))
          }
          storeHalf(maxScale / q4scale, y, dOffset)
        } else {
          for j in 0..<QK_K / 16 { ysc[j] = 0 }
          storeHalf(0, y, dOffset)
        }
        if maxMin > 0 {
          let iscale = q4scale / maxMin
          for j in 0..<QK_K / 16 {
            let l = nearest_int(iscale * mins[j])
            ysc[j] |= UInt8(truncatingIfNeeded: l << 4)
          }
          storeHalf(maxMin / q4scale, y, dminOffset)
        } else {
          storeHalf(0, y, dminOffset)
        }
        // Re-quantize against the rounded scales; a group whose scale rounded to 0 keeps its L.
        for j in 0..<QK_K / 16 {
          let d = loadHalf(y, dOffset) * Float(ysc[j] & 0xF)
          if d == 0 { continue }
          let dm = loadHalf(y, dminOffset) * Float(ysc[j] >> 4)
          for ii in 0..<16 {
            var l = nearest_int((x[16 * j + ii] + dm) / d)
            l = Swift.max(0, Swift.min(3, l))
            L[16 * j + ii] = UInt8(l)
          }
        }

        pack2Bit(L, y + qsOffset)
      }
    }

    static func dequantize(block x: UnsafePointer<UInt8>, into y: UnsafeMutablePointer<Float>) {
      var y = y
      let d = loadHalf(x, dOffset)
      let min = loadHalf(x, dminOffset)
      let sc = x + scalesOffset
      var q = x + qsOffset
      var scaleIndex = 0
      for _ in stride(from: 0, to: QK_K, by: 128) {
        var shift: UInt8 = 0
        for _ in 0..<4 {
          for half in 0..<2 {  // two groups of 16 per shift, each with its own scale/min
            let s = sc[scaleIndex]
            scaleIndex += 1
            let dl = d * Float(s & 0xF)
            let ml = min * Float(s >> 4)
            for l in 0..<16 {
              y[l] = dl * Float((q[l + 16 * half] >> shift) & 3) - ml
            }
            y += 16
          }
          shift += 2
        }
        q += 32
      }
    }
  }

  /// block_q3_K (110 bytes): hmask[32] (bit 2 of each quant), qs[64] (bits 0-1), scales[12]
  /// (sixteen 6-bit signed scales, offset by 32), d (f16 super-block scale).
  enum Q3_K: KQuantCodec {
    static var type: GGMLType { .q3_K }
    static let typeSize = 110
    static let hmaskOffset = 0
    static let qsOffset = 32
    static let scalesOffset = 96
    static let dOffset = 108

    /// The j-th 6-bit scale (0...63, before the -32 offset): low nibble from bytes 0-7, top 2 bits
    /// from bytes 8-11, as both `quantize_row_q3_K_ref` and the `kmask` shuffle of
    /// `dequantize_row_q3_K` read it.
    @inline(__always)
    static func scale6(_ scales: UnsafePointer<UInt8>, _ j: Int) -> Int {
      let low = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4
      let high = (scales[8 + j % 4] >> (2 * (j / 4))) & 3
      return Int(low | (high << 4))
    }

    static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, count: Int) {
      quantizeRow(src, dst, count: count, typeSize: typeSize) { x, y, L, scales in
        for j in 0..<QK_K / 16 {
          scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j, true)
        }
        let maxScale = maxByMagnitude(scales, QK_K / 16).max

        let ysc = y + scalesOffset
        for j in 0..<12 { ysc[j] = 0 }
        if maxScale != 0 {
          let iscale = -32 / maxScale
          for j in 0..<QK_K / 16 {
            // C stores nearest_int into an int8_t first: keep that truncation.
            var l = Int(Int8(truncatingIfNeeded: nearest_int(iscale * scales[j])))
            l = Swift.max(-32, Swift.min(31, l)) + 32
            if j < 8 {
              ysc[j] = UInt8(l & 0xF)
            } else {
              ysc[j - 8] |= UInt8((l & 0xF) << 4)
            }
            l >>= 4
            ysc[j % 4 + 8] |= UInt8(l << (2 * (j / 4)))
          }
          storeHalf(1 / iscale, y, dOffset)
        } else {
          storeHalf(0, y, dOffset)
        }

        for j in 0..<QK_K / 16 {
          requantizeGroup16(x, L, j, d: loadHalf(y, dOffset) * Float(scale6(ysc, j) - 32), nmax: 4)
        }

        // The high bit of quants 0-31 goes into bit 0 of hmask[0...31], of 32-63 into bit 1, etc.
        let hmask = y + hmaskOffset
        for j in 0..<QK_K / 8 { hmask[j] = 0 }
        var m = 0
        var hm: UInt8 = 1
        for j in 0..<QK_K {
          if L[j] > 3 {
            hmask[m] |= hm
            L[j] -= 4
          }
          m += 1
          if m == QK_K / 8 {
            m = 0
            hm <<= 1
          }
        }
        L.withMemoryRebound(to: UInt8.self, capacity: QK_K) { pack2Bit($0, y + qsOffset) }
      }
    }

    static func dequantize(block x: UnsafePointer<UInt8>, into y: UnsafeMutablePointer<Float>) {
      var y = y
      let dAll = loadHalf(x, dOffset)
      let sc = x + scalesOffset
      let hm = x + hmaskOffset
      var q = x + qsOffset
      var m: UInt8 = 1
      var scaleIndex = 0
      for _ in stride(from: 0, to: QK_K, by: 128) {
        var shift: UInt8 = 0
        for _ in 0..<4 {
          for half in 0..<2 {
            let dl = dAll * Float(scale6(sc, scaleIndex) - 32)
            scaleIndex += 1
            for l in 0..<16 {
              let k = l + 16 * half
              let low = Int((q[k] >> shift) & 3)
              y[l] = dl * Float(low - ((hm[k] & m) != 0 ? 0 : 4))
            }
            y += 16
          }
          shift += 2
          m <<= 1
        }
        q += 32
      }
    }
  }
}
