/// Reference codec of q8_K, the activation type of the k-quant dot products: a port of ggml's
/// `quantize_row_q8_K_ref` / `dequantize_row_q8_K`. Registered through `legacyQuantCodecs`.

/// block_q8_K (292 bytes): d: f32 @0, qs[256]: int8 @4, bsums[16]: int16 @260 (sums of qs in groups
/// of 16); x = d·q.
enum Q8_KCodec: BlockQuantizer {
  static var type: GGMLType { .q8_K }
  static let qk = 256  // QK_K
  static let blockBytes = 292
  static let qsOffset = 4
  static let bsumsOffset = 260

  static func quantizeBlock(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    let (max, amax) = maxByMagnitude(x, qk)
    if amax == 0 {
      // ggml leaves bsums untouched here; zeros keep the output deterministic (and match the
      // golden file).
      y.initializeMemory(as: UInt8.self, repeating: 0, count: blockBytes)
      return
    }
    // -127, not -128: ggml's IQ2_XXS AVX dot product needs the symmetric range.
    let iscale: Float = -127 / max
    for j in 0..<qk {
      let v = nearest_int(iscale * x[j])
      y.storeBytes(of: Int8(truncatingIfNeeded: Swift.min(127, v)), toByteOffset: qsOffset + j, as: Int8.self)
    }
    for j in 0..<(qk / 16) {
      var sum: Int32 = 0
      for ii in 0..<16 {
        sum += Int32(y.load(fromByteOffset: qsOffset + j * 16 + ii, as: Int8.self))
      }
      y.storeLE(Int16(truncatingIfNeeded: sum), at: bsumsOffset + 2 * j)
    }
    y.storeFloatLE(1 / iscale, at: 0)
  }

  static func dequantizeBlock(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    // q·d, as ggml's d·q: one multiply, the same product.
    dequantizeInt8(x, y, qk: qk, qsOffset: qsOffset, d: x.loadFloatLE(at: 0))
  }
}
