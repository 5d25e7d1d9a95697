/// MXFP4 (OCP microscaling FP4): blocks of 32 E2M1 values sharing an E8M0 exponent.
/// Ports of ggml's `quantize_row_mxfp4_ref` and `dequantize_row_mxfp4`.
#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

private let QK_MXFP4 = 32

/// ggml's `GGML_E8M0_TO_FP32_HALF`: 2^(e-128), i.e. half the E8M0 scale, because
/// `kvalues_mxfp4` holds the E2M1 values doubled. e = 0 and 1 give the subnormals 2^-128, 2^-127.
@inline(__always)
private func e8m0ToFp32Half(_ e: UInt8) -> Float {
  let bits: UInt32 = e < 2 ? 0x0020_0000 << UInt32(e) : UInt32(e - 1) << 23
  return Float(bitPattern: bits)
}

/// ggml's `best_index_mxfp4`: the first level with the smallest |level·e − x|.
@inline(__always)
private func best_index_mxfp4(_ x: Float, _ e: Float) -> UInt8 {
  var bestIndex = 0
  var bestErr = abs(Float(kvalues_mxfp4[0]) * e - x)
  for i in 1..<16 {
    let err = abs(Float(kvalues_mxfp4[i]) * e - x)
    if err < bestErr {
      bestIndex = i
      bestErr = err
    }
  }
  return UInt8(bestIndex)
}

/// block_mxfp4: e (E8M0) at 0, qs[16] at 1 (value j in the low nibble of byte j, value j+16 in
/// the high nibble); 17 bytes.
enum MXFP4Codec: GGMLQuantizer {
  static let type = GGMLType.mxfp4

  static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, count: Int) {
    let qk = QK_MXFP4
    for i in 0..<(count / qk) {
      let x = src + i * qk
      let block = dst + i * 17
      var amax: Float = 0
      for j in 0..<qk where amax < abs(x[j]) {
        amax = abs(x[j])
      }
      // C: (uint8_t)(floorf(log2f(amax)) - 2 + 127). Out of the byte's range (amax below 2^-125,
      // or infinite) C's cast is undefined; cTruncToUInt8 gives x86's low byte instead of a trap.
      let e: UInt8 = amax > 0 ? cTruncToUInt8(floorf(log2f(amax)) - 2 + 127) : 0
      let d = e8m0ToFp32Half(e)
      block.storeBytes(of: e, toByteOffset: 0, as: UInt8.self)
      for j in 0..<(qk / 2) {
        let x0 = best_index_mxfp4(x[j], d)
        let x1 = best_index_mxfp4(x[qk / 2 + j], d)
        block.storeBytes(of: x0 | (x1 << 4), toByteOffset: 1 + j, as: UInt8.self)
      }
    }
  }

  static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
    let qk = QK_MXFP4
    for i in 0..<(count / qk) {
      let block = src + i * 17
      let d = e8m0ToFp32Half(block.load(fromByteOffset: 0, as: UInt8.self))
      let y = dst + i * qk
      for j in 0..<(qk / 2) {
        let q = block.load(fromByteOffset: 1 + j, as: UInt8.self)
        y[j] = Float(kvalues_mxfp4[Int(q & 0x0f)]) * d
        y[j + qk / 2] = Float(kvalues_mxfp4[Int(q >> 4)]) * d
      }
    }
  }
}
