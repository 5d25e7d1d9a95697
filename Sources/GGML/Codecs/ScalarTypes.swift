/// Reference codecs of the plain float types: f32 (a copy, as `ggml_quantize_chunk` does with
/// memcpy), f16 (`ggml_fp32_to_fp16_row` / `ggml_fp16_to_fp32_row`) and bf16
/// (`ggml_fp32_to_bf16_row_ref` / `ggml_bf16_to_fp32_row`). All little-endian on disk.
let scalarCodecs: [any GGMLDequantizer.Type] = [F32Codec.self, F16Codec.self, BF16Codec.self]

/// f32: bytes are the IEEE bits themselves, so both directions copy (NaN payloads included).
enum F32Codec: GGMLQuantizer {
  static var type: GGMLType { .f32 }

  static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, count: Int) {
    for i in 0..<count { dst.storeFloatLE(src[i], at: 4 * i) }
  }

  static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { dst[i] = src.loadFloatLE(at: 4 * i) }
  }
}

/// f16: IEEE binary16, round to nearest even (overflow → ±Inf, NaN stays NaN).
enum F16Codec: GGMLQuantizer {
  static var type: GGMLType { .f16 }

  static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, count: Int) {
    for i in 0..<count { dst.storeHalf(src[i], at: 2 * i) }
  }

  static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { dst[i] = src.loadHalf(at: 2 * i) }
  }
}

/// bf16: the top 16 bits of an f32, round to nearest even; NaN forced quiet (ggml's reference,
/// not the AVX-512 BF16 path, which flushes subnormals).
enum BF16Codec: GGMLQuantizer {
  static var type: GGMLType { .bf16 }

  static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, count: Int) {
    for i in 0..<count { dst.storeLE(fp32ToBf16(src[i]), at: 2 * i) }
  }

  static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { dst[i] = bf16ToFp32(src.loadLE(at: 2 * i, as: UInt16.self)) }
  }
}
