import GGML
import QuantaCore
import Synchronization
import Testing

@testable import CPUBackend

/// Shared fixtures: one CPU backend, deterministic data, and reference matmuls cached per type (the
/// reference is the same for every ISA).
enum Fixture {
  private static let opened = Result { try CPUBackend() }
  /// The one CPU backend the tests share (its pool is created once).
  static func cpu() throws -> CPUBackend { try opened.get() }

  /// Every type a QMatMul accepts: those with a reference dequantizer.
  static let types: [GGMLType] = GGMLType.allCases.filter { $0.dequantizer != nil }

  /// Rows of x (TESTING.md tier 3) and weight rows: 37 is not a multiple of any micro-tile.
  static let xRows = [1, 2, 3, 7, 8, 16, 512]
  static let weightRows = 37
  /// k of one block and of several.
  static func ks(_ type: GGMLType) -> [Int] {
    [type.blockSize, type.blockSize == 1 ? 96 : type.blockSize * (type.blockSize >= 256 ? 4 : 8)]
  }

  static func reason(_ isa: CPUInstructionSet) -> Comment? {
    CPUBackend.unsupportedReason(isa).map { Comment(rawValue: "\(isa) unsupported here: \($0)") }
  }

  struct Case: Sendable {
    var weights: [UInt8]
    var dequantized: [Float]  // reference-dequantized weights [n, k]
    var x: [Float]  // [512, k]
  }

  private static let cache = Mutex<[String: Case]>([:])

  /// Weights of `type` `[37, k]` (reference-quantized, or for types without a quantizer random blocks
  /// that dequantize to finite, moderate values) and x `[512, k]`.
  static func data(_ type: GGMLType, k: Int) throws -> Case {
    let key = "\(type.name)/\(k)"
    if let c = cache.withLock({ $0[key] }) { return c }
    var rng = OpsReference.Random(seed: UInt64(type.rawValue) &* 1000 &+ UInt64(k))
    let n = weightRows
    var bytes: [UInt8]
    if type.quantizer != nil {
      bytes = try type.quantize(rng.floats(n * k))
    } else {
      // One block at a time: random bytes, kept when the reference decodes them to finite values of
      // moderate size (random f16 scales can be NaN or huge).
      let blocks = n * k / type.blockSize
      bytes = []
      for _ in 0..<blocks {
        while true {
          let block = (0..<type.typeSize).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
          let values = try type.dequantize(block, count: type.blockSize)
          if values.allSatisfy({ $0.isFinite && abs($0) < 1e3 }) && values.contains(where: { $0 != 0 }) {
            bytes += block
            break
          }
        }
      }
    }
    let c = Case(
      weights: bytes, dequantized: try type.dequantize(bytes, count: n * k), x: rng.floats(512 * k))
    cache.withLock { $0[key] = c }
    return c
  }

  /// `x[m, k] · Wᵀ` in Double.
  static func reference(_ c: Case, m: Int, k: Int) -> [Double] {
    let n = weightRows
    var out = [Double](repeating: 0, count: m * n)
    c.x.withUnsafeBufferPointer { x in
      c.dequantized.withUnsafeBufferPointer { w in
        for i in 0..<m {
          for r in 0..<n {
            var s = 0.0
            for j in 0..<k { s += Double(x[i * k + j]) * Double(w[r * k + j]) }
            out[i * n + r] = s
          }
        }
      }
    }
    return out
  }

  /// A CPU backend whose kernels are `isa`'s (the configuration a test forces an ISA through).
  static func cpu(_ isa: CPUInstructionSet) throws -> CPUBackend {
    try CPUBackend(configuration: .init(instructionSet: isa))
  }

  /// Runs QMatMul for every shape of `type` (on `isa`'s kernels, nil: the shared best-ISA backend)
  /// and checks NMSE ≤ 5e-4 and no spurious NaN/Inf.
  static func check(_ type: GGMLType, isa: CPUInstructionSet? = nil, options: QMatMulOptions = .init()) throws
  {
    let backend = try isa.map(cpu) ?? cpu()
    for k in ks(type) {
      let c = try data(type, k: k)
      let w = try QTensor(bytes: c.weights, type: type, shape: [weightRows, k], on: backend)
      let mm = try QMatMul(weights: w, options: options)
      for m in xRows {
        let x = try Tensor(Array(c.x[0..<m * k]), shape: [m, k], on: backend)
        let y = try mm.forward(x)
        #expect(y.shape == [m, weightRows])
        let expected = reference(c, m: m, k: k)
        let got = try y.toArray()
        let e = OpsReference.nmse(got, expected)
        #expect(
          e <= 5e-4,
          "\(type) \(isa?.rawValue ?? "best") \(options.path) m=\(m) k=\(k): NMSE \(e)")
        #expect(OpsReference.firstNonFinite(got, expected) == nil, "\(type) m=\(m) k=\(k): non-finite output")
      }
    }
  }
}

@Suite struct QMatMulTests {
  @Test("QMatMul, scalar kernels", .enabled(if: Fixture.reason(.scalar) == nil), arguments: Fixture.types)
  func scalar(_ type: GGMLType) throws { try Fixture.check(type, isa: .scalar) }

  @Test(
    "QMatMul, AVX2 kernels", .enabled(if: Fixture.reason(.avx2) == nil, Fixture.reason(.avx2)),
    arguments: Fixture.types)
  func avx2(_ type: GGMLType) throws { try Fixture.check(type, isa: .avx2) }

  @Test(
    "QMatMul, AVX-512 kernels", .enabled(if: Fixture.reason(.avx512) == nil, Fixture.reason(.avx512)),
    arguments: Fixture.types)
  func avx512(_ type: GGMLType) throws { try Fixture.check(type, isa: .avx512) }

  @Test(
    "QMatMul, AVX-512 VNNI kernels",
    .enabled(if: Fixture.reason(.avx512VNNI) == nil, Fixture.reason(.avx512VNNI)),
    arguments: Fixture.types)
  func avx512VNNI(_ type: GGMLType) throws {
    try Fixture.check(type, isa: .avx512VNNI)
  }

  @Test(
    "QMatMul, NEON kernels", .enabled(if: Fixture.reason(.neon) == nil, Fixture.reason(.neon)),
    arguments: Fixture.types)
  func neon(_ type: GGMLType) throws { try Fixture.check(type, isa: .neon) }

  @Test("QMatMul, forced dequantize path", arguments: Fixture.types)
  func dequantizePath(_ type: GGMLType) throws { try Fixture.check(type, options: .init(path: .dequantize)) }

  @Test func integerPathOnATypeWithoutKernelIsUnsupported() throws {
    let table = try KernelTable(.scalar, device: .cpu)
    guard let type = Fixture.types.first(where: { table.vecDotType($0) < 0 || table.tile($0) == nil }) else {
      Issue.record("every type has a scalar kernel; pick another check")
      return
    }
    let scalar = try Fixture.cpu(.scalar)
    let w = try QTensor.zeros(shape: [2, type.blockSize], type: type, on: scalar)
    let x = try Tensor([Float](repeating: 1, count: type.blockSize), shape: [type.blockSize], on: scalar)
    #expect(throws: QuantaError.self) {
      try QMatMul(weights: w, options: .init(path: .integerDot)).forward(x)
    }
  }

  @Test func batchedLeadingDimensionsAndVectorInput() throws {
    let c = try Fixture.data(.q4_0, k: 64)
    let w = try QTensor(bytes: c.weights, type: .q4_0, shape: [Fixture.weightRows, 64], on: Fixture.cpu())
    let mm = try QMatMul(weights: w)
    let x3 = try Tensor(Array(c.x[0..<6 * 64]), shape: [2, 3, 64], on: Fixture.cpu())
    let y3 = try mm.forward(x3)
    #expect(y3.shape == [2, 3, Fixture.weightRows])
    let flat = try mm.forward(try x3.reshaped([6, 64]))
    #expect(try y3.toArray() == flat.toArray())
    let v = try mm.forward(try Tensor(Array(c.x[0..<64]), shape: [64], on: Fixture.cpu()))
    #expect(v.shape == [Fixture.weightRows])
  }

  static let missingISA = CPUInstructionSet.allCases.first { CPUBackend.unsupportedReason($0) != nil }

  @Test(.enabled(if: missingISA != nil, "every instruction set runs on this machine"))
  func unsupportedISAIsATypedError() throws {
    let missing = try #require(Self.missingISA)
    let reason = try #require(CPUBackend.unsupportedReason(missing))
    #expect(throws: QuantaError.deviceUnavailable(device: .cpu, reason: "\(missing) kernels: \(reason)")) {
      try Fixture.cpu(missing)
    }
  }
}
