/// K-quants: 2- to 6-bit super-blocks of QK_K = 256 values (ggml-quants.c, "2-6 bit quantization in
/// super-blocks"). The quantizers are ports of `quantize_row_q{2..6}_K_ref` (no importance matrix),
/// the dequantizers of `dequantize_row_q{2..6}_K`.
///
/// Bit-exactness: every float expression keeps the C code's order of operations and its f32
/// precision (all constants there are `f` literals, all int operands are converted to float before
/// the multiply). Swift never contracts `a*b+c` into an FMA unless asked, so none is written here.

/// Reference codecs of this group, registered in ReferenceCodecs.
let kQuantCodecs: [any GGMLDequantizer.Type] = [
  KQuant.Q2_K.self, KQuant.Q3_K.self, KQuant.Q4_K.self, KQuant.Q5_K.self, KQuant.Q6_K.self,
]

/// A K-quant codec: super-blocks of QK_K values in `typeSize` bytes, read as bytes.
protocol KQuantCodec: BlockDequantizer, GGMLQuantizer {
  static var typeSize: Int { get }
  static func dequantize(block x: UnsafePointer<UInt8>, into y: UnsafeMutablePointer<Float>)
}

extension KQuantCodec {
  static var qk: Int { KQuant.QK_K }
  static var blockBytes: Int { typeSize }
  static func dequantizeBlock(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    dequantize(block: x.bindMemory(to: UInt8.self, capacity: typeSize), into: y)
  }
}

/// Namespace of the K-quant codecs and of the helpers they share. Helpers keep ggml's names so they
/// can be compared with upstream line by line.
enum KQuant {
  static let QK_K = 256
  static let K_SCALE_SIZE = 12
  /// ggml's GROUP_MAX_EPS (`1e-15f`, an f32 constant).
  static let GROUP_MAX_EPS: Float = 1e-15

  /// Round to nearest (ties to even) by the magic-number trick of ggml's `nearest_int`: adding
  /// 1.5 * 2^23 leaves the rounded integer in the low mantissa bits. Valid for |fval| <= 2^22 - 1;
  /// outside that it returns the same garbage as the C code (no trap).
  @inline(__always)
  static func nearest_int(_ fval: Float) -> Int {
    let val = fval + 12582912
    let i = Int32(bitPattern: val.bitPattern)
    return Int((i & 0x007f_ffff) - 0x0040_0000)
  }

  /// The opening of `make_qx_quants` and `make_q3_quants`: the value of largest magnitude, or nil
  /// (with L zeroed) when every |x| is below GROUP_MAX_EPS.
  @inline(__always)
  static func symmetricMax(_ n: Int, _ x: UnsafePointer<Float>, _ L: UnsafeMutablePointer<Int8>) -> Float? {
    let (max, amax) = maxByMagnitude(x, n)
    if amax < GROUP_MAX_EPS {  // all zero
      for i in 0..<n { L[i] = 0 }
      return nil
    }
    return max
  }

  /// ggml's `make_qx_quants`: symmetric quantization of `n` values to [-nmax, nmax-1] (stored as
  /// L = l + nmax), searching 18 scales around nmax/max for the best weighted fit. Returns the scale.
  static func make_qx_quants(
    _ n: Int, _ nmax: Int, _ x: UnsafePointer<Float>, _ L: UnsafeMutablePointer<Int8>,
    _ rmseType: Int, _ qw: UnsafePointer<Float>?
  ) -> Float {
    guard let max = symmetricMax(n, x, L) else { return 0 }
    var iscale = Float(-nmax) / max
    if rmseType == 0 {
      for i in 0..<n {
        let l = nearest_int(iscale * x[i])
        L[i] = Int8(truncatingIfNeeded: nmax + Swift.max(-nmax, Swift.min(nmax - 1, l)))
      }
      return 1 / iscale
    }
    // A negative rmse_type asks for the first weighted estimate, without the scale search.
    let returnEarly = rmseType < 0
    let rmse = returnEarly ? -rmseType : rmseType
    @inline(__always) func weight(_ i: Int) -> Float {
      if let qw { return qw[i] }
      switch rmse {
      case 1: return x[i] * x[i]
      case 2: return 1
      case 3: return abs(x[i])
      default: return abs(x[i]).squareRoot()
      }
    }
    var sumlx: Float = 0
    var suml2: Float = 0
    for i in 0..<n {
      var l = nearest_int(iscale * x[i])
      l = Swift.max(-nmax, Swift.min(nmax - 1, l))
      L[i] = Int8(truncatingIfNeeded: l + nmax)
      let w = weight(i)
      sumlx += w * x[i] * Float(l)
      suml2 += w * Float(l) * Float(l)
    }
    var scale: Float = suml2 != 0 ? sumlx / suml2 : 0
    if returnEarly { return suml2 > 0 ? 0.5 * (scale + 1 / iscale) : 1 / iscale }
    var best = scale * sumlx
    for step in -9...9 where step != 0 {
      iscale = -(Float(nmax) + 0.1 * Float(step)) / max
      sumlx = 0
      suml2 = 0
      for i in 0..<n {
        var l = nearest_int(iscale * x[i])
        l = Swift.max(-nmax, Swift.min(nmax - 1, l))
        let w = weight(i)
        sumlx += w * x[i] * Float(l)
        suml2 += w * Float(l) * Float(l)
      }
      if suml2 > 0 && sumlx * sumlx > best * suml2 {
        for i in 0..<n {
          let l = nearest_int(iscale * x[i])
          L[i] = Int8(truncatingIfNeeded: nmax + Swift.max(-nmax, Swift.min(nmax - 1, l)))
        }
        scale = sumlx / suml2
        best = scale * sumlx
      }
    }
    return scale
  }

  /// ggml's `make_q3_quants`: symmetric quantization to [-nmax, nmax-1] (stored as l + nmax); with
  /// `doRmse`, coordinate descent on the x²-weighted error, at most 5 sweeps. Returns the scale.
  static func make_q3_quants(
    _ n: Int, _ nmax: Int, _ x: UnsafePointer<Float>, _ L: UnsafeMutablePointer<Int8>, _ doRmse: Bool
  ) -> Float {
    guard let max = symmetricMax(n, x, L) else { return 0 }
    let iscale = Float(-nmax) / max
    if doRmse {
      var sumlx: Float = 0
      var suml2: Float = 0
      for i in 0..<n {
        var l = nearest_int(iscale * x[i])
        l = Swift.max(-nmax, Swift.min(nmax - 1, l))
        L[i] = Int8(truncatingIfNeeded: l)
        let w = x[i] * x[i]
        sumlx += w * x[i] * Float(l)
        suml2 += w * Float(l) * Float(l)
      }
      for _ in 0..<5 {
        var nChanged = 0
        for i in 0..<n {
          let w = x[i] * x[i]
          var slx = sumlx - w * x[i] * Float(L[i])
          if slx > 0 {
            var sl2 = suml2 - w * Float(L[i]) * Float(L[i])
            var newL = nearest_int(x[i] * sl2 / slx)
            newL = Swift.max(-nmax, Swift.min(nmax - 1, newL))
            if newL != Int(L[i]) {
              slx += w * x[i] * Float(newL)
              sl2 += w * Float(newL) * Float(newL)
              if sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                L[i] = Int8(truncatingIfNeeded: newL)
                sumlx = slx
                suml2 = sl2
                nChanged += 1
              }
            }
          }
        }
        if nChanged == 0 { break }
      }
      for i in 0..<n { L[i] = L[i] &+ Int8(truncatingIfNeeded: nmax) }
      return suml2 > 0 ? sumlx / suml2 : 0
    }
    for i in 0..<n {
      var l = nearest_int(iscale * x[i])
      l = Swift.max(-nmax, Swift.min(nmax - 1, l))
      L[i] = Int8(truncatingIfNeeded: l + nmax)
    }
    return 1 / iscale
  }

  /// ggml's `make_qkx2_quants`: asymmetric quantization x ≈ scale * L - theMin with L in
  /// [0, nmax], searching nstep+1 scales for the least weighted error (|err| when `useMad`, else
  /// err²). Returns the scale; writes the (non-negative) min to `theMin`. `Laux` is scratch of n.
  static func make_qkx2_quants(
    _ n: Int, _ nmax: Int, _ x: UnsafePointer<Float>, _ weights: UnsafePointer<Float>,
    _ L: UnsafeMutablePointer<UInt8>, _ theMin: inout Float, _ Laux: UnsafeMutablePointer<UInt8>,
    _ rmin: Float, _ rdelta: Float, _ nstep: Int, _ useMad: Bool
  ) -> Float {
    var min = x[0]
    var max = x[0]
    var sumW = weights[0]
    var sumX = sumW * x[0]
    for i in 1..<n {
      if x[i] < min { min = x[i] }
      if x[i] > max { max = x[i] }
      let w = weights[i]
      sumW += w
      sumX += w * x[i]
    }
    if min > 0 { min = 0 }
    if max == min {
      for i in 0..<n { L[i] = 0 }
      theMin = -min
      return 0
    }
    var iscale = Float(nmax) / (max - min)
    var scale = 1 / iscale
    var bestError: Float = 0
    for i in 0..<n {
      let l = nearest_int(iscale * (x[i] - min))
      L[i] = UInt8(truncatingIfNeeded: Swift.max(0, Swift.min(nmax, l)))
      var diff = scale * Float(L[i]) + min - x[i]
      diff = useMad ? abs(diff) : diff * diff
      let w = weights[i]
      bestError += w * diff
    }
    if nstep < 1 {
      theMin = -min
      return scale
    }
    for step in 0...nstep {
      iscale = (rmin + rdelta * Float(step) + Float(nmax)) / (max - min)
      var sumL: Float = 0
      var sumL2: Float = 0
      var sumXL: Float = 0
      for i in 0..<n {
        var l = nearest_int(iscale * (x[i] - min))
        l = Swift.max(0, Swift.min(nmax, l))
        Laux[i] = UInt8(truncatingIfNeeded: l)
        let w = weights[i]
        sumL += w * Float(l)
        sumL2 += w * Float(l) * Float(l)
        sumXL += w * Float(l) * x[i]
      }
      let D = sumW * sumL2 - sumL * sumL
      if D > 0 {
        var thisScale = (sumW * sumXL - sumX * sumL) / D
        var thisMin = (sumL2 * sumX - sumL * sumXL) / D
        if thisMin > 0 {
          thisMin = 0
          thisScale = sumXL / sumL2
        }
        var curError: Float = 0
        for i in 0..<n {
          var diff = thisScale * Float(Laux[i]) + thisMin - x[i]
          diff = useMad ? abs(diff) : diff * diff
          let w = weights[i]
          curError += w * diff
        }
        if curError < bestError {
          for i in 0..<n { L[i] = Laux[i] }
          bestError = curError
          scale = thisScale
          min = thisMin
        }
      }
    }
    theMin = -min
    return scale
  }

  /// The row loop of `quantize_row_q3_K_ref` / `quantize_row_q6_K_ref`: `block` quantizes the 256
  /// values at `x` into the block at `y`, with scratch for the quants `L` and the 16 group scales.
  static func quantizeRow(
    _ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, count: Int, typeSize: Int,
    _ block: (
      _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<UInt8>, _ L: UnsafeMutablePointer<Int8>,
      _ scales: UnsafeMutablePointer<Float>
    ) -> Void
  ) {
    let nb = count / QK_K
    let out = dst.bindMemory(to: UInt8.self, capacity: nb * typeSize)
    let L = UnsafeMutablePointer<Int8>.allocate(capacity: QK_K)
    let scales = UnsafeMutablePointer<Float>.allocate(capacity: QK_K / 16)
    defer { L.deallocate(); scales.deallocate() }
    for i in 0..<nb { block(src + i * QK_K, out + i * typeSize, L, scales) }
  }

  /// The second pass of q3_K / q6_K: group j's 16 values re-quantized against its rounded scale `d`
  /// to [-nmax, nmax - 1], stored as l + nmax. A group whose scale rounded to 0 keeps its L.
  @inline(__always)
  static func requantizeGroup16(
    _ x: UnsafePointer<Float>, _ L: UnsafeMutablePointer<Int8>, _ j: Int, d: Float, nmax: Int
  ) {
    if d == 0 { return }
    for ii in 0..<16 {
      var l = nearest_int(x[16 * j + ii] / d)
      l = Swift.max(-nmax, Swift.min(nmax - 1, l))
      L[16 * j + ii] = Int8(l + nmax)
    }
  }

  /// ggml's `get_scale_min_k4`: the j-th 6-bit (scale, min) pair of the 12-byte q4_K/q5_K
  /// `scales`. Pairs 0-3 sit in the low 6 bits of bytes 0-3 / 4-7; pairs 4-7 keep their low nibbles
  /// in bytes 8-11 and their top 2 bits in the high bits of bytes 0-3 / 4-7.
  @inline(__always)
  static func get_scale_min_k4(_ j: Int, _ q: UnsafePointer<UInt8>) -> (d: UInt8, m: UInt8) {
    if j < 4 {
      return (q[j] & 63, q[j + 4] & 63)
    }
    return ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
  }

  /// The inverse of `get_scale_min_k4` for all 8 pairs, as written inline by
  /// `quantize_row_q4_K_ref` / `quantize_row_q5_K_ref` (values must be <= 63).
  static func set_scales_k4(
    _ ls: UnsafePointer<UInt8>, _ lm: UnsafePointer<UInt8>, _ scales: UnsafeMutablePointer<UInt8>
  ) {
    for j in 0..<QK_K / 32 {
      if j < 4 {
        scales[j] = ls[j]
        scales[j + 4] = lm[j]
      } else {
        scales[j + 4] = (ls[j] & 0xF) | ((lm[j] & 0xF) << 4)
        scales[j - 4] |= (ls[j] >> 4) << 6
        scales[j] |= (lm[j] >> 4) << 6
      }
    }
  }

  /// Little-endian ggml_half load/store at a byte offset (blocks are not 2-byte aligned in general).
  @inline(__always)
  static func loadHalf(_ p: UnsafePointer<UInt8>, _ offset: Int) -> Float {
    fp16ToFp32(UInt16(p[offset]) | UInt16(p[offset + 1]) << 8)
  }

  @inline(__always)
  static func storeHalf(_ value: Float, _ p: UnsafeMutablePointer<UInt8>, _ offset: Int) {
    let bits = fp32ToFp16(value)
    p[offset] = UInt8(truncatingIfNeeded: bits)
    p[offset + 1] = UInt8(truncatingIfNeeded: bits >> 8)
  }

  /// Packs 4 groups of 32 two-bit values per 128 (q2_K and q3_K `qs`): byte l of each 32-byte run
  /// holds L[l], L[l+32], L[l+64], L[l+96] in bits 0-1, 2-3, 4-5, 6-7.
  static func pack2Bit(_ L: UnsafePointer<UInt8>, _ qs: UnsafeMutablePointer<UInt8>) {
    for j in stride(from: 0, to: QK_K, by: 128) {
      for l in 0..<32 {
        qs[j / 4 + l] = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6)
      }
    }
  }
}
