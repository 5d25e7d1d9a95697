/// Small helpers shared by the reference codecs: ggml's rounding tricks, C's float→integer casts made
/// total, and little-endian field access inside blocks.

/// ggml's `nearest_int`: rounds to nearest, ties to even, by adding 1.5·2^23 and reading the
/// mantissa. Valid (as in ggml, which asserts it) for |fval| ≤ 4194303; outside that range, and for
/// NaN, the result is whatever the bit trick gives — exactly what ggml's release build computes.
@inline(__always)
func nearest_int(_ fval: Float) -> Int {
  let val = fval + 12582912.0
  let i = Int32(bitPattern: val.bitPattern)
  return Int((i & 0x007f_ffff) - 0x0040_0000)
}

/// C's `(int)f` as x86-64 computes it (`cvttss2si`): truncation toward zero, and the "integer
/// indefinite" value `INT32_MIN` for NaN and out-of-range inputs, where C leaves the cast undefined.
/// Used wherever ggml casts a float to an integer, so NaN/Inf inputs give ggml's x86 bytes instead of
/// trapping (Swift's `Int32(Float)` traps on them).
@inline(__always)
func cTruncToInt32(_ value: Float) -> Int32 {
  // 2^31 is exactly representable; every float below it (and ≥ -2^31) converts without overflow.
  guard value >= -2_147_483_648.0, value < 2_147_483_648.0 else { return Int32.min }
  return Int32(value)
}

/// C's `(int8_t)f` as compiled for x86-64: a 32-bit truncating conversion, then the low byte.
@inline(__always)
func cTruncToInt8(_ value: Float) -> Int8 {
  Int8(truncatingIfNeeded: cTruncToInt32(value))
}

/// C's `(uint8_t)f` as compiled for x86-64: a 32-bit truncating conversion, then the low byte.
@inline(__always)
func cTruncToUInt8(_ value: Float) -> UInt8 {
  UInt8(truncatingIfNeeded: cTruncToInt32(value))
}

/// A codec of fixed-size blocks. ggml's row functions are a loop over `k / QK` blocks around the
/// block's own code; the loop is written once here and a codec supplies one block.
protocol BlockDequantizer: GGMLDequantizer {
  /// Values per block (ggml's `QK4_0`, `QK_K`, …).
  static var qk: Int { get }
  static var blockBytes: Int { get }
  /// Dequantizes the block at `x` into `y[0..<qk]`.
  static func dequantizeBlock(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>)
}

extension BlockDequantizer {
  static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<(count / qk) { dequantizeBlock(src + i * blockBytes, dst + i * qk) }
  }
}

/// A `BlockDequantizer` whose quantizer needs no scratch between blocks.
protocol BlockQuantizer: BlockDequantizer, GGMLQuantizer {
  /// Quantizes `x[0..<qk]` into the block at `y`.
  static func quantizeBlock(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer)
}

extension BlockQuantizer {
  static func quantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, count: Int) {
    for i in 0..<(count / qk) { quantizeBlock(src + i * qk, dst + i * blockBytes) }
  }
}

/// The value of largest magnitude in `x[0..<n]` (the first on ties; a NaN never wins) and that
/// magnitude: the `max` / `amax` loop of ggml's symmetric quantizers. (0, 0) when all are zero.
@inline(__always)
func maxByMagnitude(_ x: UnsafePointer<Float>, _ n: Int) -> (max: Float, amax: Float) {
  var max: Float = 0
  var amax: Float = 0
  for j in 0..<n {
    let ax = abs(x[j])
    if ax > amax {
      amax = ax
      max = x[j]
    }
  }
  return (max, amax)
}

extension UnsafeRawPointer {
  /// The little-endian binary16 at `offset`, widened to f32 (ggml's `GGML_FP16_TO_FP32`).
  @inline(__always)
  func loadHalf(at offset: Int) -> Float {
    fp16ToFp32(UInt16(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
  }

  @inline(__always)
  func loadLE<T: FixedWidthInteger>(at offset: Int, as: T.Type) -> T {
    T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
  }

  @inline(__always)
  func loadFloatLE(at offset: Int) -> Float {
    Float(bitPattern: loadLE(at: offset, as: UInt32.self))
  }
}

extension UnsafeMutableRawPointer {
  /// Stores `value` rounded to binary16 (ggml's `GGML_FP32_TO_FP16`), little-endian, at `offset`.
  @inline(__always)
  func storeHalf(_ value: Float, at offset: Int) {
    storeBytes(of: fp32ToFp16(value).littleEndian, toByteOffset: offset, as: UInt16.self)
  }

  @inline(__always)
  func storeLE<T: FixedWidthInteger>(_ value: T, at offset: Int) {
    storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
  }

  @inline(__always)
  func storeFloatLE(_ value: Float, at offset: Int) {
    storeLE(value.bitPattern, at: offset)
  }
}
