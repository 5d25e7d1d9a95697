import GGML

/// Exact comparisons that say where the first difference is, for failure messages.
enum Compare {
  /// nil when equal; else "N of M bytes differ; first at byte i (block b, byte o): got 0x.., expected 0x..".
  static func bytes(_ got: [UInt8], _ expected: [UInt8], blockBytes: Int) -> String? {
    guard got.count == expected.count else {
      return "got \(got.count) bytes, expected \(expected.count)"
    }
    var first: Int?
    var mismatches = 0
    for i in got.indices where got[i] != expected[i] {
      mismatches += 1
      if first == nil { first = i }
    }
    guard let i = first else { return nil }
    return "\(mismatches) of \(got.count) bytes differ; first at byte \(i) "
      + "(block \(i / blockBytes), byte \(i % blockBytes)): got \(hex(got[i])), expected \(hex(expected[i]))"
  }

  /// Compares bit patterns (so -0 ≠ +0 and NaN payloads count); nil when identical.
  static func floatBits(_ got: [Float], _ expected: [Float]) -> String? {
    guard got.count == expected.count else {
      return "got \(got.count) values, expected \(expected.count)"
    }
    var first: Int?
    var mismatches = 0
    for i in got.indices where got[i].bitPattern != expected[i].bitPattern {
      mismatches += 1
      if first == nil { first = i }
    }
    guard let i = first else { return nil }
    return "\(mismatches) of \(got.count) floats differ; first at element \(i): got \(got[i]) "
      + "(\(hex(got[i].bitPattern))), expected \(expected[i]) (\(hex(expected[i].bitPattern)))"
  }

  static func halves(_ got: [UInt16], _ expected: [UInt16]) -> String? {
    guard got.count == expected.count else {
      return "got \(got.count) values, expected \(expected.count)"
    }
    guard let i = got.indices.first(where: { got[$0] != expected[$0] }) else { return nil }
    let mismatches = got.indices.filter { got[$0] != expected[$0] }.count
    return "\(mismatches) of \(got.count) halves differ; first at element \(i): got \(hex(got[i])), "
      + "expected \(hex(expected[i]))"
  }

  static func hex<T: FixedWidthInteger>(_ v: T) -> String {
    let digits = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: Swift.max(0, T.bitWidth / 4 - digits.count)) + digits
  }
}

/// ggml's portable f32 → f16 (`ggml_compute_fp32_to_fp16`, the float-arithmetic version without
/// F16C), written out here so the f16 expectations do not come from the code under test.
func independentFp32ToFp16(_ f: Float) -> UInt16 {
  let scaleToInf = Float(bitPattern: 0x7780_0000)  // 0x1.0p+112f
  let scaleToZero = Float(bitPattern: 0x0880_0000)  // 0x1.0p-110f
  var base = (abs(f) * scaleToInf) * scaleToZero
  let w = f.bitPattern
  let shl1W = w &+ w
  let sign = w & 0x8000_0000
  var bias = shl1W & 0xFF00_0000
  if bias < 0x7100_0000 { bias = 0x7100_0000 }
  base = Float(bitPattern: (bias >> 1) &+ 0x0780_0000) + base
  let bits = base.bitPattern
  let expBits = (bits >> 13) & 0x0000_7C00
  let mantissaBits = bits & 0x0000_0FFF
  let nonsign = expBits &+ mantissaBits
  return UInt16(truncatingIfNeeded: (sign >> 16) | (shl1W > 0xFF00_0000 ? 0x7E00 : nonsign))
}
