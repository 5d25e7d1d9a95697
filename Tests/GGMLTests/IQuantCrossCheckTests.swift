import Foundation
import GGML
import Testing

/// The dequantize-only i-quants, TQ1_0, TQ2_0 and MXFP4 have no golden data from ggml, so they are
/// checked against an independent implementation: gguf-py (the PyPI `gguf` package, installed by
/// scripts/setup.sh), driven through Support/gguf_dequant.py. Every float is compared bit for bit.
/// A missing python3 or gguf package fails these tests; it never skips them.
@Suite struct IQuantCrossCheckTests {
  static let dequantTypes: [GGMLType] = [
    .iq1_s, .iq1_m, .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .tq1_0, .tq2_0, .mxfp4,
  ]
  static let quantTypes: [GGMLType] = [.tq1_0, .tq2_0, .mxfp4]
  static let blocksPerType = 1024

  @Test("gguf-py is available (python3 + gguf + numpy)")
  func pythonAvailable() throws {
    let version = try GGUFPy.version()
    print("cross-checking against \(version)")
    #expect(version.hasPrefix("gguf "))
  }

  @Test("dequantize matches gguf-py bit for bit on random blocks", arguments: dequantTypes)
  func dequantizeMatchesGGUFPy(type: GGMLType) throws {
    var rng = SplitMix64(seed: 0x1A_2B3C + UInt64(type.rawValue))
    let blocks = randomBlocks(type, count: Self.blocksPerType, rng: &rng)
    let count = Self.blocksPerType * type.blockSize
    let ours = try type.dequantize(blocks, count: count)
    let theirs = try GGUFPy.dequantize(type, blocks)
    #expect(theirs.count == count, "gguf-py returned \(theirs.count) floats, \(count) expected")
    let mismatches = bitMismatches(ours, theirs)
    print("\(type.name): \(Self.blocksPerType) blocks, \(count) floats, \(mismatches.count) mismatches")
    if let first = mismatches.first {
      Issue.record(
        """
        \(type.name): \(mismatches.count) of \(count) floats differ from gguf-py; first at \(first) \
        (block \(first / type.blockSize)): ours \(ours[first]) (0x\(String(ours[first].bitPattern, radix: 16))), \
        gguf-py \(theirs[first]) (0x\(String(theirs[first].bitPattern, radix: 16)))
        """)
    }
  }

  @Test("quantize matches gguf-py byte for byte", arguments: quantTypes)
  func quantizeMatchesGGUFPy(type: GGMLType) throws {
    var rng = SplitMix64(seed: 0x5EED + UInt64(type.rawValue))
    let values = randomInputs(count: 512 * type.blockSize, blockSize: type.blockSize, rng: &rng)
    let ours = try type.quantize(values)
    let theirs = try GGUFPy.quantize(type, values)
    #expect(ours.count == theirs.count)
    let first = zip(ours, theirs).enumerated().first { $0.element.0 != $0.element.1 }?.offset
    let differing = zip(ours, theirs).filter { $0 != $1 }.count
    print("\(type.name) quantize: \(values.count / type.blockSize) blocks, \(differing) differing bytes")
    if let first {
      Issue.record(
        """
        \(type.name): \(differing) bytes differ from gguf-py; first at byte \(first) \
        (block \(first / type.typeSize)): ours \(ours[first]), gguf-py \(theirs[first])
        """)
    }
  }

  /// Values already on the type's grid survive quantize → dequantize unchanged.
  @Test("ternary values on an f16 scale round-trip exactly", arguments: [GGMLType.tq1_0, .tq2_0])
  func ternaryRoundTrip(type: GGMLType) throws {
    var rng = SplitMix64(seed: 7)
    var values: [Float] = []
    for block in 0..<64 {
      let d = Float(Float16(Float(block + 1) * 0.37))  // exactly representable in f16
      var trits = (0..<256).map { _ in Float(Int(rng.next() % 3) - 1) }
      trits[Int(rng.next() % 256)] = rng.next() % 2 == 0 ? 1 : -1  // the max is d itself
      values += trits.map { $0 * d }
    }
    let back = try type.dequantize(try type.quantize(values), count: values.count)
    #expect(bitMismatches(back, values).isEmpty)
  }

  @Test("MXFP4 values on the E2M1 grid round-trip exactly")
  func mxfp4RoundTrip() throws {
    let levels: [Float] = [0, 0.5, 1, 1.5, 2, 3, 4, 6]
    var rng = SplitMix64(seed: 11)
    var values: [Float] = []
    for block in 0..<64 {
      let scale = Float(sign: .plus, exponent: block - 32, significand: 1)
      // No -0: the quantizer maps it to level 0, which decodes as +0.
      var v = (0..<32).map { _ -> Float in
        let level = levels[Int(rng.next() % 8)]
        return level == 0 ? 0 : level * (rng.next() % 2 == 0 ? 1 : -1) * scale
      }
      v[Int(rng.next() % 32)] = 6 * scale  // pins the shared exponent
      values += v
    }
    let back = try GGMLType.mxfp4.dequantize(try GGMLType.mxfp4.quantize(values), count: values.count)
    #expect(bitMismatches(back, values).isEmpty)
  }

  /// Hand-decoded blocks: the same facts in another form, independent of gguf-py.
  @Test("hand-decoded TQ2_0, TQ1_0 and MXFP4 blocks")
  func handDecoded() throws {
    // TQ2_0: byte 0b10_01_00_10 → values 1, -1, 0, 1 at positions 0, 32, 64, 96; d = 2.0.
    var tq2 = [UInt8](repeating: 0x55, count: 66)  // 0x55: every 2-bit field 1 → 0
    tq2[0] = 0b10_01_00_10
    tq2[64] = 0x00
    tq2[65] = 0x40  // f16 2.0
    let y2 = try GGMLType.tq2_0.dequantize(tq2, count: 256)
    #expect([y2[0], y2[32], y2[64], y2[96], y2[1]] == [2, -2, 0, 2, 0])
    // TQ1_0: trits (2, 0, 1, 2, 1) = 2·81 + 0·27 + 1·9 + 2·3 + 1 = 178 → byte ceil(178·256/243) = 188.
    var tq1 = [UInt8](repeating: 0, count: 54)
    tq1[0] = 188
    tq1[52] = 0x00
    tq1[53] = 0x3c  // f16 1.0
    let y1 = try GGMLType.tq1_0.dequantize(tq1, count: 256)
    #expect([y1[0], y1[32], y1[64], y1[96], y1[128]] == [1, -1, 0, 1, 0])
    // MXFP4: e = 128 → scale 2^(128-127) = 2, halved for the doubled levels: d = 1.
    var mx = [UInt8](repeating: 0, count: 17)
    mx[0] = 128
    mx[1] = 0xF7  // low nibble 7 → 12, high nibble 15 → -12
    let ym = try GGMLType.mxfp4.dequantize(mx, count: 32)
    #expect(ym[0] == 12 && ym[16] == -12 && ym[1] == 0)
  }
}

// MARK: - Random blocks

/// A small deterministic generator, so a failure reproduces.
private struct SplitMix64 {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
  mutating func unit() -> Float { Float(next() >> 40) / Float(1 << 24) }
}

/// A finite f16 scale: random sign and mantissa, exponent field 0...21 (zero, subnormals, and
/// normals up to 2^6), so no product in any of these formats overflows.
private func saneHalf(_ rng: inout SplitMix64) -> UInt16 {
  let r = rng.next()
  let sign = UInt16(r & 1) << 15
  let exponent = UInt16((r >> 1) % 22) << 10
  let mantissa = UInt16((r >> 8) & 0x3ff)
  return sign | exponent | mantissa
}

/// Where each type keeps its f16 scale (nil: none; IQ1_M spreads it over its scale words).
private func halfOffset(_ type: GGMLType) -> Int? {
  switch type {
  case .iq1_s, .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s: return 0
  case .tq1_0: return 52
  case .tq2_0: return 64
  default: return nil
  }
}

/// Random bytes with the scale fields made finite. MXFP4's E8M0 byte stays fully random: every
/// value is a finite power of two in ggml's decoding.
private func randomBlocks(_ type: GGMLType, count: Int, rng: inout SplitMix64) -> [UInt8] {
  var bytes = (0..<(count * type.typeSize)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
  for b in 0..<count {
    let base = b * type.typeSize
    let h = saneHalf(&rng)
    if let offset = halfOffset(type) {
      bytes[base + offset] = UInt8(h & 0xff)
      bytes[base + offset + 1] = UInt8(h >> 8)
    } else if type == .iq1_m {
      // The top nibble of scale word k (the high byte at 48 + 2k + 1) holds bits 4k..4k+3 of d.
      for k in 0..<4 {
        let nibble = UInt8((h >> UInt16(4 * k)) & 0xf)
        bytes[base + 49 + 2 * k] = (bytes[base + 49 + 2 * k] & 0x0f) | (nibble << 4)
      }
    }
  }
  return bytes
}

/// Inputs for the quantizers: mostly scaled uniform noise, with some blocks of zeros, a constant,
/// a single spike, and exact half-steps (ties for lroundf).
private func randomInputs(count: Int, blockSize: Int, rng: inout SplitMix64) -> [Float] {
  var values: [Float] = []
  values.reserveCapacity(count)
  for block in 0..<(count / blockSize) {
    let scale = Float(sign: .plus, exponent: Int(rng.next() % 40) - 20, significand: 1 + rng.unit())
    for j in 0..<blockSize {
      let v: Float
      switch block % 8 {
      case 0: v = 0
      case 1: v = scale
      case 2: v = j == 5 ? -scale : 0
      case 3: v = Float(Int(rng.next() % 5) - 2) * 0.5 * scale
      default: v = (rng.unit() * 2 - 1) * scale
      }
      values.append(v)
    }
  }
  return values
}

private func bitMismatches(_ a: [Float], _ b: [Float]) -> [Int] {
  var out: [Int] = []
  for i in 0..<min(a.count, b.count) where a[i].bitPattern != b[i].bitPattern { out.append(i) }
  if a.count != b.count { out.append(min(a.count, b.count)) }
  return out
}

// MARK: - gguf-py

private enum GGUFPyError: Error, CustomStringConvertible {
  case unavailable(String)
  case failed(String)
  var description: String {
    switch self {
    case .unavailable(let why): return "gguf-py is required for this test and is unavailable: \(why)"
    case .failed(let why): return "gguf_dequant.py failed: \(why)"
    }
  }
}

private enum GGUFPy {
  static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Support/gguf_dequant.py").path

  /// Runs `python3 gguf_dequant.py args...`; a missing interpreter or package is an error that
  /// fails the test with its reason.
  @discardableResult
  static func run(_ args: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", script] + args
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    do { try process.run() } catch {
      throw GGUFPyError.unavailable("cannot start python3 via /usr/bin/env: \(error)")
    }
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let message = String(decoding: stderr, as: UTF8.self)
    switch process.terminationStatus {
    case 0: return String(decoding: stdout, as: UTF8.self)
    case 127: throw GGUFPyError.unavailable("python3 not found on PATH (\(message))")
    case 2: throw GGUFPyError.unavailable(message)
    default: throw GGUFPyError.failed("exit \(process.terminationStatus): \(message)")
    }
  }

  static func version() throws -> String {
    try run(["--version"]).trimmingCharacters(in: .whitespacesAndNewlines)
  }

  static func dequantize(_ type: GGMLType, _ blocks: [UInt8]) throws -> [Float] {
    try withTemporaryFiles { input, output in
      try Data(blocks).write(to: input)
      try run([type.name, input.path, output.path])
      return try Data(contentsOf: output).withUnsafeBytes { raw in
        (0..<(raw.count / 4)).map {
          Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))
        }
      }
    }
  }

  static func quantize(_ type: GGMLType, _ values: [Float]) throws -> [UInt8] {
    try withTemporaryFiles { input, output in
      let bytes = values.flatMap { v -> [UInt8] in
        withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) }
      }
      try Data(bytes).write(to: input)
      try run(["--quantize", type.name, input.path, output.path])
      return [UInt8](try Data(contentsOf: output))
    }
  }

  private static func withTemporaryFiles<T>(_ body: (URL, URL) throws -> T) throws -> T {
    let dir = FileManager.default.temporaryDirectory
      .appendingPathComponent("quanta-iquant-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    return try body(dir.appendingPathComponent("in.bin"), dir.appendingPathComponent("out.bin"))
  }
}
