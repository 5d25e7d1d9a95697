import GGML
import QuantaCore

/// `quanta bench matmul`: mat-vec GB/s of weights read per type, as a % of the device's reference
/// bandwidth measured in the same run with the same threads, and mat-mat GFLOP/s. Works on any
/// backend that is a `MatmulBenchmarkBackend` (the matmuls themselves go through `QMatMul`, as in
/// inference).
public struct MatmulBenchmark: Sendable {
  public struct Configuration: Sendable {
    public var types: [GGMLType]
    /// Mat-vec weights `[rows, k]`; `rows` grows for small types until the matrix is at least
    /// `cacheMultiple` × the last-level cache, so no type is measured from cache (at 2×, a
    /// non-LRU L3 still served part of each pass: q6_K read "145%" of the streaming bandwidth).
    public var matvecRows: Int = 14336
    public var k: Int = 4096
    public var cacheMultiple: Double = 4
    /// Mat-mat: x `[batch, k]` times weights `[matmatRows, k]`.
    public var batch: Int = 512
    public var matmatRows: Int = 4096
    /// Time spent per measurement (after one warm-up call).
    public var seconds: Double = 0.5
    public var options: QMatMulOptions = .init()

    public init(types: [GGMLType]) { self.types = types }
  }

  public struct Row: Sendable {
    public var type: GGMLType
    public var kernel: String
    public var matvecShape: [Int]
    public var weightBytes: Int
    public var microsecondsPerCall: Double
    public var gigabytesPerSecond: Double
    public var percentOfReference: Double
    public var matmatShape: [Int]
    /// nil when the mat-mat run was skipped or failed (`error` says why).
    public var matmatGFLOPS: Double?
    public var error: String?
  }

  /// Every type the GGML module can dequantize (the types a QMatMul accepts), dense ones first.
  public static var allTypes: [GGMLType] {
    let dense: [GGMLType] = [.f32, .f16, .bf16]
    return dense + GGMLType.allCases.filter { $0.isQuantized && $0.dequantizer != nil && $0 != .q8_K }
  }

  public let backend: any MatmulBenchmarkBackend
  public let configuration: Configuration

  public init(backend: any MatmulBenchmarkBackend, configuration: Configuration) {
    self.backend = backend
    self.configuration = configuration
  }

  /// Bytes per second of the reference read (streaming read on a CPU, copy on a GPU).
  public func referenceBandwidth() throws -> Double {
    let llc = backend.info.lastLevelCacheBytes ?? (32 << 20)
    let bytes = max(4 * llc, 256 << 20)
    return try backend.measureReferenceBandwidth(bytes: bytes, iterations: 10)
  }

  /// Runs every type, reporting each row as it finishes.
  public func run(referenceBytesPerSecond: Double, onRow: (Row) -> Void = { _ in }) throws -> [Row] {
    var rows: [Row] = []
    for type in configuration.types {
      let row = try measure(type, referenceBytesPerSecond: referenceBytesPerSecond)
      onRow(row)
      rows.append(row)
    }
    return rows
  }

  func measure(_ type: GGMLType, referenceBytesPerSecond: Double) throws -> Row {
    let c = configuration
    guard c.k % type.blockSize == 0 else {
      throw QuantaError.notBlockMultiple(op: "bench matmul", type: type, count: c.k)
    }
    let rowBytes = c.k / type.blockSize * type.typeSize
    let llc = Double(backend.info.lastLevelCacheBytes ?? (32 << 20))
    let minRows = Int((c.cacheMultiple * llc / Double(rowBytes)).rounded(.up))
    var n = c.matvecRows
    while n < minRows { n += c.matvecRows / 2 }

    var row = Row(
      type: type, kernel: backend.matmulKernelName(for: type, options: c.options), matvecShape: [n, c.k],
      weightBytes: n * rowBytes, microsecondsPerCall: 0, gigabytesPerSecond: 0,
      percentOfReference: 0, matmatShape: [c.batch, c.k, c.matmatRows], matmatGFLOPS: nil, error: nil)

    do {
      let w = try QTensor(
        bytes: try Self.weightBytes(type: type, rows: n, k: c.k), type: type, shape: [n, c.k], on: backend)
      let mm = try QMatMul(weights: w, options: c.options)
      let x = try Tensor(Self.randomValues(c.k, seed: 7), shape: [1, c.k], on: backend)
      let seconds = try time(c.seconds) { _ = try mm.forward(x) }
      row.microsecondsPerCall = seconds * 1e6
      row.gigabytesPerSecond = Double(row.weightBytes) / seconds / 1e9
      row.percentOfReference = Double(row.weightBytes) / seconds / referenceBytesPerSecond * 100
    } catch {
      row.error = "\(error)"
      return row
    }

    do {
      let w = try QTensor(
        bytes: try Self.weightBytes(type: type, rows: c.matmatRows, k: c.k), type: type,
        shape: [c.matmatRows, c.k], on: backend)
      let mm = try QMatMul(weights: w, options: c.options)
      let x = try Tensor(Self.randomValues(c.batch * c.k, seed: 9), shape: [c.batch, c.k], on: backend)
      let seconds = try time(c.seconds) { _ = try mm.forward(x) }
      row.matmatGFLOPS = 2 * Double(c.batch) * Double(c.k) * Double(c.matmatRows) / seconds / 1e9
    } catch {
      row.error = "mat-mat: \(error)"
    }
    return row
  }

  /// Mean seconds per call: one warm-up call, then calls until `budget` seconds have passed.
  func time(_ budget: Double, _ body: () throws -> Void) throws -> Double {
    try body()
    try backend.synchronize()
    let clock = ContinuousClock()
    let start = clock.now
    var calls = 0
    var elapsed = 0.0
    repeat {
      try body()
      calls += 1
      if calls % 4 == 0 || elapsed == 0 { try backend.synchronize() }
      elapsed = Self.seconds(clock.now - start)
    } while elapsed < budget || calls < 3
    try backend.synchronize()
    return Self.seconds(clock.now - start) / Double(calls)
  }

  static func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
  }

  /// Deterministic pseudo-random values in [-1, 1) (xorshift; benchmarks need no real randomness).
  public static func randomValues(_ count: Int, seed: UInt64) -> [Float] {
    var s = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<count).map { _ in
      s ^= s << 13
      s ^= s >> 7
      s ^= s << 17
      return Float(s >> 40) / Float(1 << 23) - 1
    }
  }

  /// `rows × k` weights: 16 distinct rows quantized by the reference quantizer and repeated (fast to
  /// build, same speed as unique rows once the matrix exceeds the cache). Types with no quantizer
  /// get pseudo-random blocks with their leading f16 scale set to a small value.
  static func weightBytes(type: GGMLType, rows: Int, k: Int) throws -> [UInt8] {
    let rowBytes = k / type.blockSize * type.typeSize
    let distinct = min(16, rows)
    var seedRows: [UInt8]
    if let dense = DType(type) {
      let values = randomValues(distinct * k, seed: 3)
      switch dense {
      case .f32: seedRows = values.withUnsafeBytes { Array($0) }
      case .f16: seedRows = values.map(fp32ToFp16).withUnsafeBytes { Array($0) }
      case .bf16: seedRows = values.map(fp32ToBf16).withUnsafeBytes { Array($0) }
      }
    } else if type.quantizer != nil {
      seedRows = try type.quantize(randomValues(distinct * k, seed: 3))
    } else {
      var s: UInt64 = 0x2545_F491_4F6C_DD1D
      seedRows = (0..<(distinct * rowBytes)).map { _ in
        s ^= s << 13
        s ^= s >> 7
        s ^= s << 17
        return UInt8(truncatingIfNeeded: s >> 32)
      }
      saneScales(type, &seedRows)
    }
    var out = [UInt8](repeating: 0, count: rows * rowBytes)
    out.withUnsafeMutableBytes { dst in
      seedRows.withUnsafeBytes { src in
        for r in 0..<rows {
          let from = (r % distinct) * rowBytes
          (dst.baseAddress! + r * rowBytes).copyMemory(from: src.baseAddress! + from, byteCount: rowBytes)
        }
      }
    }
    return out
  }

  /// Sets each random block's scale to 1/16 (an ordinary float): random scale bits give NaN, inf and
  /// subnormal weights, whose slow arithmetic would be timed instead of the kernel.
  static func saneScales(_ type: GGMLType, _ bytes: inout [UInt8]) {
    let half: UInt16 = 0x2C00  // 0.0625
    var f16Offset: Int?
    switch type {
    case .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq1_s, .q8_1: f16Offset = 0
    case .tq1_0: f16Offset = 52
    case .tq2_0: f16Offset = 64
    default: break
    }
    for b in stride(from: 0, to: bytes.count - type.typeSize + 1, by: type.typeSize) {
      if let o = f16Offset {
        bytes[b + o] = UInt8(half & 0xFF)
        bytes[b + o + 1] = UInt8(half >> 8)
      } else if type == .mxfp4 {
        bytes[b] = 124  // E8M0 exponent: 2^-3 (halved by the format)
      } else if type == .iq1_m {
        // The f16 scale is the top nibble of each of the four 16-bit words of scales (offset 48).
        for j in 0..<4 {
          let nibble = UInt8((half >> (4 * UInt16(j))) & 0xF)
          bytes[b + 48 + 2 * j + 1] = (bytes[b + 48 + 2 * j + 1] & 0x0F) | (nibble << 4)
        }
      }
    }
  }

  /// The table `quanta bench matmul` prints.
  public static func header(referenceBytesPerSecond: Double, backend: any ComputeBackend, threads: String)
    -> String
  {
    let info = backend.info
    let llc = info.lastLevelCacheBytes.map { "\($0 >> 20) MiB LLC" } ?? "LLC unknown"
    return """
      device: \(info.device) \(info.name) (\(info.architecture)), \(threads), \(llc)
      reference read bandwidth: \(format(referenceBytesPerSecond / 1e9, 2)) GB/s
      | type    | kernel               | mat-vec [n,k] | MiB    | µs/call  | GB/s  | % of ref | mat-mat [m,k,n] | GFLOP/s |
      |---------|----------------------|---------------|--------|----------|-------|----------|-----------------|---------|
      """
  }

  public static func format(_ row: Row) -> String {
    func pad(_ s: String, _ n: Int) -> String {
      s.count >= n ? s : s + String(repeating: " ", count: n - s.count)
    }
    let shape = row.matvecShape.map(String.init).joined(separator: ",")
    let mm = row.matmatShape.map(String.init).joined(separator: ",")
    var line =
      "| \(pad(row.type.name, 7)) | \(pad(row.kernel, 20)) | \(pad(shape, 13)) | \(pad(format(Double(row.weightBytes) / 1048576, 1), 6)) | "
    line += "\(pad(format(row.microsecondsPerCall, 1), 8)) | \(pad(format(row.gigabytesPerSecond, 2), 5)) | "
    line += "\(pad(format(row.percentOfReference, 1) + "%", 8)) | \(pad("[" + mm + "]", 15)) | "
    line += "\(pad(row.matmatGFLOPS.map { format($0, 1) } ?? "-", 7)) |"
    if let e = row.error { line += " \(e)" }
    return line
  }

  public static func format(_ v: Double, _ digits: Int) -> String {
    guard v.isFinite else { return "\(v)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let r = (v * scale).rounded() / scale
    var s = "\(r)"
    if let dot = s.firstIndex(of: ".") {
      let decimals = s.distance(from: dot, to: s.endIndex) - 1
      if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
    }
    return s
  }
}
