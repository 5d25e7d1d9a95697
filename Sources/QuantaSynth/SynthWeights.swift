import Foundation
import GGML
import QuantaLM

/// Random tensor contents made directly in each type's encoding (never by quantizing floats), so a
/// 7B model is written at the speed of the disk: random bytes for the quants, then every block's
/// scale fields set to finite values chosen so the dequantized weights have a standard deviation
/// near 0.02, like freshly initialized weights.
enum SynthWeights {
  static let targetStd: Float = 0.02

  /// Where a block keeps its scales.
  enum Slot: Sendable {
    /// f16 `d` multiplying the quants.
    case scale16(Int)
    /// f16 `m`/`dmin`, the block's offset.
    case min16(Int)
    /// f32 `d` (q8_K).
    case scale32(Int)
    /// E8M0 shared exponent (mxfp4).
    case e8m0(Int)
    /// iq1_m's f16 scale, spread over the top nibbles of its four 16-bit scale words at 48.
    case iq1m
  }

  /// Fields derived from the quants, recomputed after the random fill.
  enum Fixup: Sendable {
    case none
    /// q8_1's `s` (f16 at 2) = d·Σqs.
    case q8_1Sum
    /// q8_K's `bsums` (16 int16 at 260): sums of the quants in groups of 16.
    case q8KBlockSums
  }

  struct Recipe: Sendable {
    var slots: [Slot]
    var fixup: Fixup = .none
  }

  /// The scale fields of every block type Quanta has a layout for (ggml-common.h's block_*).
  static func recipe(for type: GGMLType) -> Recipe? {
    switch type {
    case .q4_0, .q5_0, .q8_0, .iq4_nl, .iq4_xs, .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq1_s:
      return Recipe(slots: [.scale16(0)])
    case .q4_1, .q5_1, .q4_K, .q5_K: return Recipe(slots: [.scale16(0), .min16(2)])
    case .q8_1: return Recipe(slots: [.scale16(0)], fixup: .q8_1Sum)
    case .q2_K: return Recipe(slots: [.scale16(80), .min16(82)])
    case .q3_K: return Recipe(slots: [.scale16(108)])
    case .q6_K: return Recipe(slots: [.scale16(208)])
    case .q8_K: return Recipe(slots: [.scale32(0)], fixup: .q8KBlockSums)
    case .iq1_m: return Recipe(slots: [.iq1m])
    case .tq1_0: return Recipe(slots: [.scale16(52)])
    case .tq2_0: return Recipe(slots: [.scale16(64)])
    case .mxfp4: return Recipe(slots: [.e8m0(0)])
    default: return nil
    }
  }

  /// Every type synth can write: the float types and each block type with a layout and codec.
  static let supportedTypes: [GGMLType] = GGMLType.allCases.filter { t in
    t == .f32 || t == .f16 || t == .bf16 || (t.isQuantized && recipe(for: t) != nil && t.dequantizer != nil)
  }

  /// Per-block scale jitter (so blocks differ as real ones do); mean square ≈ 1.
  static let jitter: [Float] = [0.7, 0.8, 0.9, 1.0, 1.0, 1.1, 1.2, 1.3]

  /// A type's scale values, calibrated once: the unit-scale spread is measured by dequantizing
  /// random blocks with the reference codec, then `d` (and the offset that centres the values)
  /// are scaled to the target.
  struct Scales: Sendable {
    var type: GGMLType
    var recipe: Recipe
    /// f16 bits of d·jitter[j] and m·jitter[j].
    var d16: [UInt16]
    var m16: [UInt16]
    var d32: [Float]
    var exponent: UInt8
  }

  /// - Parameter std: the standard deviation aimed at (`targetStd` unless a preset asks otherwise).
  static func calibrate(_ type: GGMLType, std: Float = targetStd) throws -> Scales {
    guard let recipe = recipe(for: type), type.dequantizer != nil else {
      throw SynthError.noBlockLayout(type)
    }
    let blocks = max(64, 16384 / type.blockSize)
    let count = blocks * type.blockSize
    var bytes = [UInt8](repeating: 0, count: blocks * type.typeSize)
    var state: UInt64 = 0xCA11_B8A7_E000_0000 ^ UInt64(type.rawValue)
    for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: splitMix64(&state)) }
    func measure(d: Float, m: Float) throws -> (mean: Double, std: Double) {
      var sample = bytes
      let unit = Scales(
        type: type, recipe: recipe, d16: Array(repeating: fp32ToFp16(d), count: 8),
        m16: Array(repeating: fp32ToFp16(m), count: 8), d32: Array(repeating: d, count: 8),
        exponent: 128)  // 2^(128-128) = 1
      sample.withUnsafeMutableBytes { finishBlocks($0.baseAddress!, count: blocks, scales: unit) }
      let values = try type.dequantize(sample, count: count)
      let mean = values.reduce(0.0) { $0 + Double($1) } / Double(count)
      let variance = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(count)
      return (mean, variance.squareRoot())
    }
    let hasMin = recipe.slots.contains { if case .min16 = $0 { true } else { false } }
    // The offset that cancels the mean of d·q (signs differ by type, so measure both parts).
    var ratio: Double = 0
    if hasMin {
      let dPart = try measure(d: 1, m: 0).mean
      let mPart = try measure(d: 0, m: 1).mean
      if mPart != 0 { ratio = -dPart / mPart }
    }
    let spread = try measure(d: 1, m: Float(ratio)).std
    let d = spread > 0 ? Double(std) / spread : 0
    // E8M0 holds powers of two only: the nearest one.
    var exponent = 128
    if spread > 0 {
      var p = 1.0
      while p * 2 <= d * 1.4142 { p *= 2; exponent += 1 }
      while p > d * 1.4142 { p /= 2; exponent -= 1 }
    }
    return Scales(
      type: type, recipe: recipe,
      d16: jitter.map { fp32ToFp16(Float(d) * $0) },
      m16: jitter.map { fp32ToFp16(Float(d * ratio) * $0) },
      d32: jitter.map { Float(d) * $0 },
      exponent: UInt8(clamping: exponent))
  }

  /// Sets the scale fields of `count` randomly filled blocks at `base`. The jitter index comes from
  /// the random bits of the first scale field, which are overwritten anyway.
  static func finishBlocks(_ base: UnsafeMutableRawPointer, count: Int, scales: Scales) {
    let size = scales.type.typeSize
    scales.d16.withUnsafeBufferPointer { d16 in
      scales.m16.withUnsafeBufferPointer { m16 in
        let slots = scales.recipe.slots
        // The common shapes get tight loops; the rest go through the general one.
        if slots.count == 1, case .scale16(let off) = slots[0], case .none = scales.recipe.fixup {
          for b in 0..<count {
            let p = base + b * size
            let j = Int(p.load(fromByteOffset: off, as: UInt8.self) & 7)
            p.storeBytes(of: d16[j].littleEndian, toByteOffset: off, as: UInt16.self)
          }
          return
        }
        if slots.count == 2, case .scale16(let dOff) = slots[0], case .min16(let mOff) = slots[1] {
          for b in 0..<count {
            let p = base + b * size
            let j = Int(p.load(fromByteOffset: dOff, as: UInt8.self) & 7)
            p.storeBytes(of: d16[j].littleEndian, toByteOffset: dOff, as: UInt16.self)
            p.storeBytes(of: m16[j].littleEndian, toByteOffset: mOff, as: UInt16.self)
          }
          return
        }
        for b in 0..<count {
          let p = base + b * size
          var j = -1
          for slot in slots {
            switch slot {
            case .scale16(let off):
              if j < 0 { j = Int(p.load(fromByteOffset: off, as: UInt8.self) & 7) }
              p.storeBytes(of: d16[j].littleEndian, toByteOffset: off, as: UInt16.self)
            case .min16(let off):
              if j < 0 { j = Int(p.load(fromByteOffset: off, as: UInt8.self) & 7) }
              p.storeBytes(of: m16[j].littleEndian, toByteOffset: off, as: UInt16.self)
            case .scale32(let off):
              j = Int(p.load(fromByteOffset: off, as: UInt8.self) & 7)
              p.storeBytes(of: scales.d32[j].bitPattern.littleEndian, toByteOffset: off, as: UInt32.self)
            case .e8m0(let off):
              p.storeBytes(of: scales.exponent, toByteOffset: off, as: UInt8.self)
            case .iq1m:
              // iq1m_scale_t: f16 bits = sc[0]>>12 | (sc[1]>>8)&0xf0 | (sc[2]>>4)&0xf00 | sc[3]&0xf000.
              j = Int(p.load(fromByteOffset: 48, as: UInt8.self) & 7)
              let bits = d16[j]
              for k in 0..<4 {
                let word = UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 48 + 2 * k, as: UInt16.self))
                let nibble = (bits >> (4 * UInt16(k))) & 0xF
                let updated = (word & 0x0FFF) | (nibble << 12)
                p.storeBytes(of: updated.littleEndian, toByteOffset: 48 + 2 * k, as: UInt16.self)
              }
            }
          }
          switch scales.recipe.fixup {
          case .none: break
          case .q8_1Sum:
            var sum: Int32 = 0
            for i in 0..<32 { sum += Int32(p.load(fromByteOffset: 4 + i, as: Int8.self)) }
            let d = fp16ToFp32(d16[max(j, 0)])
            p.storeBytes(of: fp32ToFp16(Float(sum) * d).littleEndian, toByteOffset: 2, as: UInt16.self)
          case .q8KBlockSums:
            for g in 0..<16 {
              var sum: Int16 = 0
              for i in 0..<16 { sum += Int16(p.load(fromByteOffset: 4 + 16 * g + i, as: Int8.self)) }
              p.storeBytes(of: sum.littleEndian, toByteOffset: 260 + 2 * g, as: Int16.self)
            }
          }
        }
      }
    }
  }

  /// 4096 samples of an approximately normal distribution (Irwin–Hall sum of four uniforms) with
  /// mean 0 and standard deviation exactly `targetStd`; dense values are drawn from it. Plain
  /// arithmetic only, so the table (and the files) are the same on every platform.
  static let normalTable: [Float] = {
    var state: UInt64 = 0x0000_4E0F_7AB1_E000
    var raw: [Double] = (0..<4096).map { _ in
      var s = 0.0
      for _ in 0..<4 { s += Double(splitMix64(&state) >> 11) / Double(1 << 53) }
      return s - 2
    }
    let mean = raw.reduce(0, +) / Double(raw.count)
    raw = raw.map { $0 - mean }
    let std = (raw.reduce(0) { $0 + $1 * $1 } / Double(raw.count)).squareRoot()
    return raw.map { Float($0 / std * Double(targetStd)) }
  }()
}

/// What one tensor's bytes are.
enum SynthContent: Sendable {
  /// Weights with std ≈ `std` (0.02 unless the preset asks otherwise) in `type` (random blocks for
  /// block types, scaled from `scales`; normal noise for floats).
  case weights(GGMLType, SynthWeights.Scales?, std: Float)
  /// Norm weights: 1 + noise, f32.
  case ones
  /// Biases: noise, f32.
  case noise
  /// Exact values, f32 (rope_freqs).
  case values([Float])
}

extension SynthContent {
  /// Bytes per chunk handed to one worker; chunks (not threads) carry the seeds, so the output is
  /// the same whatever the number of cores.
  static let chunkBytes = 1 << 20

  /// Fills `buffer` (the tensor's exact byte size) from `seed`, chunks in parallel.
  func fill(_ buffer: UnsafeMutableRawBufferPointer, seed: UInt64) {
    guard let start = buffer.baseAddress, buffer.count > 0 else { return }
    let total = buffer.count
    let unit: Int  // bytes of the smallest independent piece
    switch self {
    case .weights(let t, _, _): unit = t.typeSize
    case .ones, .noise, .values: unit = 4
    }
    let chunk = max(1, Self.chunkBytes / unit) * unit
    let chunks = (total + chunk - 1) / chunk
    let address = Int(bitPattern: start)
    let content = self
    let work: @Sendable (Int) -> Void = { c in
      let base = UnsafeMutableRawPointer(bitPattern: address)! + c * chunk
      let bytes = min(chunk, total - c * chunk)
      var state = seed ^ (UInt64(c) &* 0xD1B5_4A32_D192_ED03)
      _ = splitMix64(&state)
      content.fillChunk(base, bytes: bytes, firstElement: c * chunk / unit, state: &state)
    }
    if chunks == 1 {
      work(0)
    } else {
      DispatchQueue.concurrentPerform(iterations: chunks, execute: work)
    }
  }

  private func fillChunk(_ base: UnsafeMutableRawPointer, bytes: Int, firstElement: Int, state: inout UInt64)
  {
    switch self {
    case .weights(let type, let scales, let std):
      // The table's values have std `targetStd`.
      let k = std / SynthWeights.targetStd
      switch type {
      case .f32:
        fillDense(base, count: bytes / 4, state: &state) { p, i, v in
          p.storeBytes(of: (v * k).bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
        }
      case .f16:
        fillDense(base, count: bytes / 2, state: &state) { p, i, v in
          p.storeBytes(of: fp32ToFp16(v * k).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
        }
      case .bf16:
        fillDense(base, count: bytes / 2, state: &state) { p, i, v in
          p.storeBytes(of: fp32ToBf16(v * k).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
        }
      default:
        fillRandomBytes(base, bytes: bytes, state: &state)
        if let scales { SynthWeights.finishBlocks(base, count: bytes / type.typeSize, scales: scales) }
      }
    case .ones:
      fillDense(base, count: bytes / 4, state: &state) { p, i, v in
        p.storeBytes(of: (1 + v).bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
      }
    case .noise:
      fillDense(base, count: bytes / 4, state: &state) { p, i, v in
        p.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
      }
    case .values(let values):
      for i in 0..<(bytes / 4) {
        base.storeBytes(
          of: values[firstElement + i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
      }
    }
  }

  @inline(__always)
  private func fillRandomBytes(_ base: UnsafeMutableRawPointer, bytes: Int, state: inout UInt64) {
    let words = bytes / 8
    for i in 0..<words {
      base.storeBytes(of: splitMix64(&state).littleEndian, toByteOffset: 8 * i, as: UInt64.self)
    }
    var tail = splitMix64(&state)
    for i in (words * 8)..<bytes {
      base.storeBytes(of: UInt8(truncatingIfNeeded: tail), toByteOffset: i, as: UInt8.self)
      tail >>= 8
    }
  }

  /// Four table draws (12 bits each) per random word.
  @inline(__always)
  private func fillDense(
    _ base: UnsafeMutableRawPointer, count: Int, state: inout UInt64,
    _ store: (UnsafeMutableRawPointer, Int, Float) -> Void
  ) {
    SynthWeights.normalTable.withUnsafeBufferPointer { table in
      var i = 0
      while i < count {
        var r = splitMix64(&state)
        for _ in 0..<4 where i < count {
          store(base, i, table[Int(r & 4095)])
          r >>= 16
          i += 1
        }
      }
    }
  }
}
