import Foundation
import GGML
import GPUBackend
import QuantaCore

// `quanta selftest`, dense part: every op GPUDenseOps*.swift adds, run through QuantaCore's public
// entry points (Ops, QTensor, QMatMul) on the device and on the CPU backend with the same inputs,
// compared as TESTING.md tier 3 says: bytes / bits exact for quantize, dequantize, getRows and
// writeKV; normalized MSE ≤ 1e-7 element-wise; ≤ 5e-4 for matmul and attention. Shapes are ragged
// (1, 7, 37 rows; k not a multiple of any tile; several attention key tiles plus a remainder).
extension GPUSelftest {
  enum Tolerance {
    case exact
    case nmse(Double)
  }
  static let elementwise = Tolerance.nmse(1e-7)
  static let reduction = Tolerance.nmse(5e-4)

  /// Compares `body` run on `gpu` with `body` run on `cpu`.
  static func versus(
    _ name: String, _ tolerance: Tolerance, _ gpu: any ComputeBackend, _ cpu: any ComputeBackend,
    _ body: @escaping (any ComputeBackend) throws -> [Float]
  ) -> Case {
    Case(name: name) {
      let want = try body(cpu)
      let got = try body(gpu)
      return compare(got, want, tolerance)
    }
  }

  static func compare(_ got: [Float], _ want: [Float], _ tolerance: Tolerance) -> String? {
    guard got.count == want.count else { return "\(got.count) values, reference \(want.count)" }
    switch tolerance {
    case .exact:
      let bad = (0..<want.count).first {
        got[$0].bitPattern != want[$0].bitPattern && !(got[$0].isNaN && want[$0].isNaN)
      }
      return bad.map { "element \($0): \(got[$0]) vs reference \(want[$0])" }
    case .nmse(let limit):
      guard let e = nmse(got, want.map(Double.init)) else {
        return "non-finite output where the reference is finite"
      }
      return e <= limit ? nil : "normalized MSE \(e) > \(limit)"
    }
  }

  /// Deterministic inputs: ggml's test vector `0.1 + 2·cos(i + offset)` scaled, with a little noise
  /// so no two blocks are alike.
  static func wave(_ n: Int, seed: Int, amplitude: Float = 1) -> [Float] {
    var s = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<n).map { i in
      s ^= s << 13; s ^= s >> 7; s ^= s << 17
      let noise = Double(s % 1000) / 1000 - 0.5
      return amplitude * Float(0.1 + 2 * cos(Double(i + seed) * 0.37) + 0.3 * noise)
    }
  }

  /// Quantizer input with the reference's corner cases: an all-zero block, a ±max tie (the first
  /// wins), a block with one huge value.
  static func quantizeInput(_ n: Int, seed: Int) -> [Float] {
    var x = wave(n, seed: seed)
    if n >= 64 { for j in 32..<64 { x[j] = 0 } }
    if n >= 96 { x[64] = -3; x[70] = 3 }
    if n >= 128 { x[100] = 1e4 }
    return x
  }

  static func denseCases(gpu: any ComputeBackend, cpu: any ComputeBackend) -> [Case] {
    var out: [Case] = []
    out += conversionCases(gpu, cpu)
    out += matmulCases(gpu, cpu)
    out += transformerCases(gpu, cpu)
    out += attentionCases(gpu, cpu)
    out += cacheTypeCases(gpu, cpu)
    out += elementwiseCases(gpu, cpu)
    out += expertCases(gpu, cpu)
    out += gptOssCases(gpu, cpu)
    return out
  }

  // MARK: Quantize, dequantize, getRows

  static func conversionCases(_ gpu: any ComputeBackend, _ cpu: any ComputeBackend) -> [Case] {
    var out: [Case] = []
    let storage: [GGMLType] = [.f32, .f16, .bf16]
    for t in storage + KernelBuild.quantizeTypes {
      for shape in [[1, 32], [7, 288], [37, 96]] {
        let x = quantizeInput(shape[0] * shape[1], seed: Int(t.rawValue) + shape[0])
        out.append(
          Case(name: "quantize \(t.name) \(shape)") {
            func run(_ b: any ComputeBackend) throws -> [UInt8] {
              try QTensor.quantize(Tensor(x, shape: shape, on: b), type: t).bytes()
            }
            let want = try run(cpu), got = try run(gpu)
            let bad = (0..<want.count).first { got[$0] != want[$0] }
            return got.count != want.count
              ? "\(got.count) bytes, reference \(want.count)"
              : bad.map {
                "byte \($0): 0x\(String(got[$0], radix: 16)) vs reference 0x\(String(want[$0], radix: 16))"
              }
          })
      }
    }
    // A type without a GPU quantizer is a typed error, not a trap or a CPU fallback.
    out.append(
      Case(name: "quantize q4_K → typed unsupported") {
        let x = try Tensor(wave(256, seed: 1), shape: [1, 256], on: gpu)
        do {
          _ = try QTensor.quantize(x, type: .q4_K)
          return "quantize q4_K succeeded; expected QuantaError.unsupported"
        } catch let e as QuantaError {
          if case .unsupported = e { return nil }
          return "expected .unsupported, got \(e)"
        }
      })
    for t in KernelBuild.types {
      let k = t.blockSize * 3
      let blocks = randomBlocks(t, rows: 5, k: k, seed: UInt64(t.rawValue) + 77)
      out.append(
        versus("dequantize \(t.name) bf16 [5, \(k)]", .exact, gpu, cpu) { b in
          let q = try QTensor(bytes: blocks, type: t, shape: [5, k], on: b)
          let y = try Tensor.zeros(shape: [5, k], dtype: .bf16, on: b)
          try b.dequantize(q, into: y)
          return try y.toArray()
        })
    }
    let values = wave(7 * 45, seed: 5, amplitude: 3)
    for from in storage {
      for to in [DType.f32, .f16, .bf16] {
        out.append(
          versus("dequantize \(from.name) storage → \(to) [7, 45]", .exact, gpu, cpu) { b in
            let q = try QTensor.quantize(Tensor(values, shape: [7, 45], on: b), type: from)
            let y = try Tensor.zeros(shape: [7, 45], dtype: to, on: b)
            try b.dequantize(q, into: y)
            return try y.toArray()
          })
      }
    }
    let ids: [Int32] = [0, 36, 3, 3, 17]
    for dtype in [DType.f32, .f16, .bf16] {
      let table = wave(37 * 41, seed: 9)
      out.append(
        versus("getRows \(dtype) [37, 41] ids \(ids)", .exact, gpu, cpu) { b in
          try Ops.getRows(Tensor(table, shape: [37, 41], dtype: dtype, on: b), ids: ids).toArray()
        })
    }
    out.append(
      versus("getRows f16 QTensor [37, 64] ids \(ids)", .exact, gpu, cpu) { b in
        let q = try QTensor.quantize(Tensor(wave(37 * 64, seed: 3), shape: [37, 64], on: b), type: .f16)
        return try Ops.getRows(q, ids: ids).toArray()
      })
    return out
  }

  // MARK: Matmul with dense weights

  static func matmulCases(_ gpu: any ComputeBackend, _ cpu: any ComputeBackend) -> [Case] {
    var out: [Case] = []
    let n = weightRows
    for t in [GGMLType.f32, .f16, .bf16] {
      for k in [40, 300] {
        let w = wave(n * k, seed: k + Int(t.rawValue))
        for m in activationRows {
          let x = wave(m * k, seed: m)
          out.append(
            versus("matmul \(t.name) x[\(m), \(k)] · w[\(n), \(k)]ᵀ", reduction, gpu, cpu) { b in
              let q = try QTensor.quantize(Tensor(w, shape: [n, k], on: b), type: t)
              return try QMatMul(weights: q).forward(Tensor(x, shape: [m, k], on: b)).toArray()
            })
        }
      }
    }
    return out
  }
}
