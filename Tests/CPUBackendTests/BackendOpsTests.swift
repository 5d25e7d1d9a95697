import Foundation
import GGML
import QuantaCore
import Testing

@testable import CPUBackend

/// The dense ops through the public `Ops` API on the CPU backend (the wiring: shapes, strides,
/// broadcasting, thread splits), each against the plain reference of `OpsReference`.
@Suite struct BackendOpsTests {
  var rng = OpsReference.Random(seed: 2024)

  func tensor(_ values: [Float], _ shape: [Int], dtype: DType = .f32) throws -> Tensor {
    try Tensor(values, shape: shape, dtype: dtype, on: Fixture.cpu())
  }

  func expectClose(_ got: [Float], _ want: [Double], _ limit: Double = 1e-7, _ what: String) {
    #expect(got.count == want.count, "\(what): count")
    let e = OpsReference.nmse(got, want)
    #expect(e <= limit, "\(what): NMSE \(e)")
  }

  @Test mutating func norms() throws {
    let (rows, n) = (67, 96)
    let x = rng.floats(rows * n, -2, 2)
    let w = rng.floats(n, 0.5, 1.5)
    let b = rng.floats(n)
    let rms = try Ops.rmsNorm(tensor(x, [rows, n]), weight: tensor(w, [n]), eps: 1e-6).toArray()
    let ln = try Ops.layerNorm(tensor(x, [rows, n]), weight: tensor(w, [n]), bias: tensor(b, [n]), eps: 1e-5)
      .toArray()
    var wantRMS: [Double] = []
    var wantLN: [Double] = []
    for r in 0..<rows {
      let row = Array(x[r * n..<(r + 1) * n])
      wantRMS += OpsReference.rmsNorm(row, weight: w, eps: 1e-6)
      wantLN += OpsReference.layerNorm(row, weight: w, bias: b, eps: 1e-5)
    }
    expectClose(rms, wantRMS, 1e-10, "rmsNorm")
    expectClose(ln, wantLN, 1e-10, "layerNorm")
    #expect(throws: QuantaError.self) {
      try Ops.rmsNorm(tensor(x, [rows, n]), weight: tensor(b, [n / 2]), eps: 1e-6)
    }
  }

  @Test(arguments: [RoPEParameters.Mode.normal, .neox])
  func rope(_ mode: RoPEParameters.Mode) throws {
    var rng = OpsReference.Random(seed: 5)
    let (tokens, heads, headDim, nRot) = (5, 3, 64, 48)
    let x = rng.floats(tokens * heads * headDim)
    let positions: [Int32] = [0, 1, 7, 100, 4095]
    let p = RoPEParameters(mode: mode, dimensions: nRot, freqBase: 500_000, freqScale: 0.5)
    let got = try Ops.rope(tensor(x, [tokens, heads, headDim]), positions: positions, parameters: p).toArray()
    var want: [Double] = []
    for t in 0..<tokens {
      for h in 0..<heads {
        let head = Array(x[(t * heads + h) * headDim..<(t * heads + h + 1) * headDim])
        want += OpsReference.rope(
          head, position: Int(positions[t]), nRot: nRot, neox: mode == .neox, freqBase: 500_000,
          freqScale: 0.5)
      }
    }
    expectClose(got, want, 1e-9, "rope \(mode)")
    #expect(throws: QuantaError.self) {
      try Ops.rope(tensor(x, [tokens, heads, headDim]), positions: [0], parameters: p)
    }
  }

  @Test mutating func maskedSoftmax() throws {
    let (tokens, heads, keys) = (4, 2, 19)
    let x = rng.floats(tokens * heads * keys, -4, 4)
    let positions: [Int32] = [15, 16, 17, 18]
    let p = SoftmaxParameters(scale: 0.7, softCap: 3, causal: true, slidingWindow: 8)
    let got = try Ops.softmax(tensor(x, [tokens, heads, keys]), positions: positions, parameters: p).toArray()
    var want: [Double] = []
    for t in 0..<tokens {
      for h in 0..<heads {
        let row = x[(t * heads + h) * keys..<(t * heads + h + 1) * keys].map(Double.init)
        want += OpsReference.softmax(
          row, scale: 0.7, softCap: 3, queryPosition: Int(positions[t]), causal: true, window: 8)
      }
    }
    expectClose(got, want, 1e-10, "softmax")
    let plain = try Ops.softmax(tensor(Array(x[0..<keys]), [keys])).toArray()
    expectClose(
      plain,
      OpsReference.softmax(
        x[0..<keys].map(Double.init), scale: 1, softCap: 0, queryPosition: nil, causal: false, window: 0),
      1e-10, "plain softmax")
  }

  @Test mutating func kvCacheAndGroupedQueryAttention() throws {
    let (heads, kvHeads, headDim, capacity) = (8, 2, 64, 32)
    let cpu = try Fixture.cpu()
    let kCache = try Tensor.zeros(shape: [capacity, kvHeads, headDim], dtype: .f16, on: cpu)
    let vCache = try Tensor.zeros(shape: [capacity, kvHeads, headDim], dtype: .f16, on: cpu)
    // A prompt of 10 tokens, then one decode step at position 10.
    let kAll = rng.floats(11 * kvHeads * headDim)
    let vAll = rng.floats(11 * kvHeads * headDim)
    try Ops.writeKV(
      keys: tensor(Array(kAll[0..<10 * kvHeads * headDim]), [10, kvHeads, headDim]),
      values: tensor(Array(vAll[0..<10 * kvHeads * headDim]), [10, kvHeads, headDim]),
      positions: (0..<10).map(Int32.init), keyCache: kCache, valueCache: vCache)
    try Ops.writeKV(
      keys: tensor(Array(kAll[(10 * kvHeads * headDim)...]), [1, kvHeads, headDim]),
      values: tensor(Array(vAll[(10 * kvHeads * headDim)...]), [1, kvHeads, headDim]),
      positions: [10], keyCache: kCache, valueCache: vCache)
    let kBits = try kCache.toArray().map(fp32ToFp16)
    #expect(Array(kBits[0..<kAll.count]) == kAll.map(fp32ToFp16))
    #expect(kBits[kAll.count...].allSatisfy { $0 == 0 })

    let vBits = try vCache.toArray().map(fp32ToFp16)
    for (tokens, window, cap): (Int, Int?, Float?) in [(11, nil, nil), (3, 4, 30), (1, nil, nil)] {
      let q = rng.floats(tokens * heads * headDim)
      let positions = (11 - tokens..<11).map(Int32.init)
      let params = AttentionParameters(
        kvLength: 11,
        softmax: .init(
          scale: 1 / Float(headDim).squareRoot(), softCap: cap, causal: true, slidingWindow: window))
      let got = try Ops.attention(
        query: tensor(q, [tokens, heads, headDim]), positions: positions, keyCache: kCache,
        valueCache: vCache,
        parameters: params
      ).toArray()
      let want = OpsReference.attention(
        q: q, k: kBits, v: vBits, positions: positions, nHead: heads, nKVHead: kvHeads, headDim: headDim,
        nKV: 11,
        scale: 1 / Double(headDim).squareRoot(), softCap: Double(cap ?? 0), causal: true, window: window ?? 0)
      expectClose(got, want, 5e-4, "attention tokens=\(tokens) window=\(window ?? 0)")
    }
    #expect(throws: QuantaError.self) {
      try Ops.writeKV(
        keys: tensor(Array(kAll[0..<kvHeads * headDim]), [1, kvHeads, headDim]),
        values: tensor(Array(vAll[0..<kvHeads * headDim]), [1, kvHeads, headDim]),
        positions: [Int32(capacity)],
        keyCache: kCache, valueCache: vCache)
    }
  }

  @Test mutating func elementwise() throws {
    let n = 40000 + 3  // several thread chunks plus a ragged tail
    let a = rng.floats(n, -6, 6)
    let b = rng.floats(n, -2, 2)
    let (ta, tb) = (try tensor(a, [n]), try tensor(b, [n]))
    expectClose(try Ops.silu(ta).toArray(), a.map { OpsReference.silu(Double($0)) }, 1e-7, "silu")
    expectClose(try Ops.gelu(ta).toArray(), a.map { OpsReference.gelu(Double($0)) }, 1e-7, "gelu")
    expectClose(
      try Ops.swiglu(gate: ta, up: tb).toArray(),
      zip(a, b).map { OpsReference.silu(Double($0)) * Double($1) }, 1e-7,
      "swiglu")
    expectClose(
      try Ops.geglu(gate: ta, up: tb).toArray(), zip(a, b).map { OpsReference.gelu(Double($0)) * Double($1) },
      1e-7,
      "geglu")
    expectClose(try Ops.add(ta, tb).toArray(), zip(a, b).map { Double($0) + Double($1) }, 1e-14, "add")
    expectClose(try Ops.mul(ta, tb).toArray(), zip(a, b).map { Double($0) * Double($1) }, 1e-14, "mul")
    expectClose(try Ops.scale(ta, by: 0.125).toArray(), a.map { Double($0) * 0.125 }, 1e-14, "scale")
    // Soft-capping: cap · tanh(x / cap), within f32 rounding of tanh; |y| < cap for every x.
    expectClose(
      try Ops.softcap(ta, cap: 2.5).toArray(), a.map { 2.5 * tanh(Double($0) / 2.5) }, 1e-12, "softcap")
    let huge = try Ops.softcap(tensor([-1e30, -30, 0, 30, 1e30], [5]), cap: 30).toArray()
    #expect(huge[0] == -30 && huge[2] == 0 && huge[4] == 30 && abs(huge[3] - 30 * Float(tanh(1.0))) < 1e-5)
    #expect(throws: QuantaError.self) { try Ops.softcap(ta, cap: 0) }
    // Row broadcast: [rows, 13] + [13].
    let rows = 3077
    let bias = Array(b[0..<13])
    let m = Array(a[0..<rows * 13])
    let got = try Ops.add(tensor(m, [rows, 13]), tensor(bias, [13])).toArray()
    expectClose(got, m.indices.map { Double(m[$0]) + Double(bias[$0 % 13]) }, 1e-14, "add broadcast")
    let prod = try Ops.mul(tensor(m, [rows, 13]), tensor(bias, [13])).toArray()
    expectClose(prod, m.indices.map { Double(m[$0]) * Double(bias[$0 % 13]) }, 1e-14, "mul broadcast")
  }

  @Test mutating func getRowsFromQuantizedAndDenseTables() throws {
    let (rows, dim) = (50, 64)
    let values = rng.floats(rows * dim)
    let ids: [Int32] = [3, 0, 49, 3, 17]
    let q = try QTensor.quantize(tensor(values, [rows, dim]), type: .q5_1)
    let deq = try GGMLType.q5_1.dequantize(q.bytes(), count: rows * dim)
    let want = ids.flatMap { deq[Int($0) * dim..<(Int($0) + 1) * dim] }
    #expect(try Ops.getRows(q, ids: ids).toArray() == want)
    let f16 = try tensor(values, [rows, dim], dtype: .f16)
    let wantF16 = ids.flatMap {
      values[Int($0) * dim..<(Int($0) + 1) * dim].map { fp16ToFp32(fp32ToFp16($0)) }
    }
    #expect(try Ops.getRows(f16, ids: ids).toArray() == wantF16)
    #expect(throws: QuantaError.indexOutOfRange(op: "getRows", index: -1, bound: rows)) {
      try Ops.getRows(q, ids: [-1])
    }
  }

  @Test func bandwidthProbeAndDeviceInfo() throws {
    let cpu = try Fixture.cpu()
    let bw = try cpu.measureReferenceBandwidth(bytes: 8 << 20, iterations: 2)
    #expect(bw > 1e8 && bw.isFinite)
    #expect(cpu.info.device == .cpu && cpu.info.computeUnits >= 1 && cpu.info.warpSize == nil)
    #expect(cpu.info.architecture.hasPrefix("x86_64") || cpu.info.architecture.hasPrefix("arm64"))
  }
}
