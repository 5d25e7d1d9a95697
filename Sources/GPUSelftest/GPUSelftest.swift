import Foundation
import GGML
import GPUBackend
import QuantaCore

/// `quanta selftest --device D`: every op × type × ragged shape on a GPU against the CPU reference
/// (TESTING.md tier 3): dequantize exact, matmul by normalized MSE ≤ 5e-4, no NaN/Inf where the
/// reference is finite. One line per case, then `N passed, N failed`.
public enum GPUSelftest {
  /// Activation rows (n in the words) and weight shapes: rows not a multiple of any tile,
  /// k of one block and of several.
  public static let activationRows = [1, 2, 3, 7, 8, 16, 512]
  public static let weightRows = 37

  /// Byte offsets of the f16 scale fields per block (set to sane values in random blocks).
  static func halfFields(_ t: GGMLType) -> [Int] {
    switch t {
    case .q4_1, .q5_1, .q4_K, .q5_K: return [0, 2]
    case .q2_K: return [80, 82]
    case .q3_K: return [108]
    case .q6_K: return [208]
    case .tq1_0: return [52]
    case .tq2_0: return [64]
    case .mxfp4, .iq1_m: return []
    default: return [0]
    }
  }

  /// Random but well-formed blocks: random quants, scales of about 1/64.
  public static func randomBlocks(_ t: GGMLType, rows: Int, k: Int, seed: UInt64) -> [UInt8] {
    var s = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    func next() -> UInt64 { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s }
    let nb = rows * k / t.blockSize
    var bytes = (0..<(nb * t.typeSize)).map { _ in UInt8(truncatingIfNeeded: next()) }
    for b in 0..<nb {
      let base = b * t.typeSize
      for o in halfFields(t) {
        let h = fp32ToFp16(Float(Int(next() % 200) + 20) / 8192 * (next() % 2 == 0 ? 1 : -1))
        bytes[base + o] = UInt8(h & 0xff)
        bytes[base + o + 1] = UInt8(h >> 8)
      }
      if t == .mxfp4 { bytes[base] = UInt8(120 + next() % 8) }
      if t == .iq1_m {
        // The f16 scale lives in the top nibbles of the four u16 scale words (bytes 48..55).
        let h = fp32ToFp16(Float(Int(next() % 200) + 20) / 8192)
        for i in 0..<4 {
          let o = base + 48 + 2 * i + 1
          bytes[o] = (bytes[o] & 0x0f) | UInt8((h >> (4 * UInt16(i))) & 0xf) << 4
        }
      }
    }
    return bytes
  }

  struct Case {
    var name: String
    var body: () throws -> String?  // nil: pass; text: the failure
  }

  /// `reference` is the CPU backend the dense ops are compared with (GPUSelftestDense.swift); the
  /// quantized cases compute their own reference from the reference codecs.
  public static func run(
    device: Device, reference: (any ComputeBackend)? = nil, configuration: GPUBackend.Configuration = .init(),
    log: (String) -> Void
  ) -> (passed: Int, failed: Int) {
    let backend: GPUBackend
    do {
      backend = try GPUBackend(device: device, configuration: configuration)
    } catch {
      log("open \(device): FAIL \(error)")
      return (0, 1)
    }
    log(
      "device \(device): \(backend.info.name) \(backend.info.architecture) warp \(backend.info.warpSize ?? 0)"
    )
    var passed = 0, failed = 0
    var all: [Case] = []
    for t in KernelBuild.types {
      for k in [t.blockSize, t.blockSize == 32 ? 32 * 9 : 256 * 3] { all += cases(backend, t, k) }
    }
    if let reference {
      all += denseCases(gpu: backend, cpu: reference)
    } else {
      log("FAIL dense ops: no CPU reference backend given")
      failed += 1
    }
    for c in all {
      do {
        if let why = try c.body() {
          log("FAIL \(c.name): \(why)"); failed += 1
        } else {
          log("ok   \(c.name)"); passed += 1
        }
      } catch {
        log("FAIL \(c.name): \(error)")
        failed += 1
      }
    }
    log("\(passed) passed, \(failed) failed")
    return (passed, failed)
  }

  static func nmse(_ a: [Float], _ b: [Double]) -> Double? {
    var num = 0.0, den = 0.0
    for i in 0..<a.count {
      if !a[i].isFinite && b[i].isFinite { return nil }
      num += (Double(a[i]) - b[i]) * (Double(a[i]) - b[i])
      den += b[i] * b[i]
    }
    return den == 0 ? num : num / den
  }

  static func cases(_ gpu: GPUBackend, _ t: GGMLType, _ k: Int) -> [Case] {
    let n = weightRows
    let blocks = randomBlocks(t, rows: n, k: k, seed: UInt64(Int(t.rawValue) * 1000 + k))
    var out: [Case] = []
    out.append(
      Case(name: "dequantize \(t.name) f32 [\(n), \(k)]") {
        let ref = try t.dequantize(blocks, count: n * k)
        let q = try QTensor(bytes: blocks, type: t, shape: [n, k], on: gpu)
        let y = try Tensor.zeros(shape: [n, k], dtype: .f32, on: gpu)
        try gpu.dequantize(q, into: y)
        let got = try y.toArray()
        let bad = (0..<ref.count).first {
          got[$0].bitPattern != ref[$0].bitPattern && !(got[$0].isNaN && ref[$0].isNaN)
        }
        return bad.map { "element \($0): \(got[$0]) vs reference \(ref[$0])" }
      })
    out.append(
      Case(name: "dequantize \(t.name) f16 [\(n), \(k)]") {
        let ref = try t.dequantizeF16(blocks, count: n * k)
        let q = try QTensor(bytes: blocks, type: t, shape: [n, k], on: gpu)
        let y = try Tensor.zeros(shape: [n, k], dtype: .f16, on: gpu)
        try gpu.dequantize(q, into: y)
        var got = [UInt16](repeating: 0, count: n * k)
        try got.withUnsafeMutableBytes { try gpu.copy(y.buffer, at: y.byteOffset, to: $0) }
        let bad = (0..<ref.count).first { got[$0] != ref[$0] }
        return bad.map {
          "element \($0): 0x\(String(got[$0], radix: 16)) vs reference 0x\(String(ref[$0], radix: 16))"
        }
      })
    out.append(
      Case(name: "getRows \(t.name) [\(n), \(k)] ids [0, \(n - 1), 3]") {
        let ref = try t.dequantize(blocks, count: n * k)
        let q = try QTensor(bytes: blocks, type: t, shape: [n, k], on: gpu)
        let ids: [Int32] = [0, Int32(n - 1), 3]
        let y = try Tensor.zeros(shape: [ids.count, k], on: gpu)
        try gpu.getRows(q, ids: ids, into: y)
        let got = try y.toArray()
        for (r, id) in ids.enumerated() {
          for j in 0..<k where got[r * k + j].bitPattern != ref[Int(id) * k + j].bitPattern {
            return "row \(r) (id \(id)) element \(j): \(got[r * k + j]) vs \(ref[Int(id) * k + j])"
          }
        }
        return nil
      })
    for m in activationRows {
      for path in [QMatMulPath.dequantize, .integerDot] {
        out.append(
          Case(name: "matmul \(path.rawValue) \(t.name) x[\(m), \(k)] · w[\(n), \(k)]ᵀ") {
            let w = try t.dequantize(blocks, count: n * k)
            let x = (0..<(m * k)).map { Float(0.1 + 2 * cos(Double($0) * 0.37)) }
            var ref = [Double](repeating: 0, count: m * n)
            for i in 0..<m {
              for r in 0..<n {
                var acc = 0.0
                for j in 0..<k { acc += Double(x[i * k + j]) * Double(w[r * k + j]) }
                ref[i * n + r] = acc
              }
            }
            let q = try QTensor(bytes: blocks, type: t, shape: [n, k], on: gpu)
            let xt = try Tensor(x, shape: [m, k], on: gpu)
            let y = try Tensor.zeros(shape: [m, n], on: gpu)
            try gpu.matmul(xt, weights: q, options: QMatMulOptions(path: path), into: y)
            let got = try y.toArray()
            guard let e = nmse(got, ref) else { return "non-finite output where the reference is finite" }
            return e <= 5e-4 ? nil : "normalized MSE \(e) > 5e-4"
          })
      }
    }
    return out
  }
}
