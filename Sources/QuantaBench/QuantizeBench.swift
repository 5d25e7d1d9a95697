import Foundation
import GGML
import QuantaFiles
import QuantaQuantize

/// `quanta bench quantize`: throughput of the reference codecs, in MB/s of f32 data
/// (1 MB = 10^6 bytes; n values count as 4n bytes on both sides).
public enum QuantizeBench {
  public struct Row: Sendable, Equatable {
    public var type: GGMLType
    /// nil for types with only a dequantizer.
    public var quantizeMBps: Double?
    public var dequantizeMBps: Double
    /// Bits per weight of the type.
    public var bitsPerWeight: Double
  }

  /// Every type with at least a reference dequantizer, in type-id order.
  public static var benchmarkableTypes: [GGMLType] {
    GGMLType.allCases.filter { $0.dequantizer != nil }.sorted { $0.rawValue < $1.rawValue }
  }

  /// Parses `--types q4_0,q4_K …` (comma or space separated, case-insensitive).
  public static func parseTypes(_ arguments: [String]) throws -> [GGMLType] {
    try arguments.flatMap { $0.split(separator: ",") }.map { name in
      guard let type = GGMLType(name: String(name)) else {
        throw QuantaToolError.unknownBenchType(String(name))
      }
      return type
    }
  }

  /// Measures each type on `size` values (rounded up to 256, the largest block size).
  /// - Parameters:
  ///   - minSeconds: each measurement repeats until at least this much time has passed.
  public static func run(
    size: Int = 1 << 20, types: [GGMLType]? = nil, minSeconds: Double = 0.25,
    progress: (GGMLType) -> Void = { _ in }
  ) throws -> [Row] {
    guard size > 0 else { throw QuantaToolError.invalidArgument("--size must be positive") }
    let n = (size + 255) / 256 * 256
    // ggml's test-quantize-fns input: 0.1 + 2·cos(i).
    let input = (0..<n).map { Float(0.1 + 2 * cos(Double($0))) }
    var output = [Float](repeating: 0, count: n)
    var rows: [Row] = []
    for type in types ?? benchmarkableTypes {
      guard type.dequantizer != nil else {
        throw QuantaToolError.noDequantizer(type: type, tensor: "bench input")
      }
      progress(type)
      guard let bytes = type.byteCount(forElements: n) else { continue }
      var blocks = [UInt8](repeating: 0, count: bytes)
      var quantizeRate: Double?
      if type.quantizer != nil {
        let q = try measure(minSeconds) {
          try input.withUnsafeBufferPointer { src in
            try blocks.withUnsafeMutableBytes { try type.quantize(src, into: $0) }
          }
        }
        quantizeRate = Double(n * 4) / q / 1e6
      } else {
        // No quantizer: dequantize deterministic pseudo-random blocks (speed does not depend on
        // the values; NaN scales included).
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for i in 0..<bytes {
          state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
          blocks[i] = UInt8(truncatingIfNeeded: state >> 56)
        }
      }
      let d = try measure(minSeconds) {
        try blocks.withUnsafeBytes { src in
          try output.withUnsafeMutableBufferPointer { try type.dequantize(src, into: $0) }
        }
      }
      rows.append(
        Row(
          type: type, quantizeMBps: quantizeRate, dequantizeMBps: Double(n * 4) / d / 1e6,
          bitsPerWeight: Double(type.typeSize * 8) / Double(type.blockSize)))
    }
    return rows
  }

  /// Seconds per call, averaged over as many calls as fit in `minSeconds` (at least one).
  static func measure(_ minSeconds: Double, _ body: () throws -> Void) throws -> Double {
    try body()  // warm-up: page in buffers and tables
    var calls = 0
    let start = DispatchTime.now().uptimeNanoseconds
    var elapsed = 0.0
    repeat {
      try body()
      calls += 1
      elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    } while elapsed < minSeconds
    return elapsed / Double(calls)
  }

  public static func table(_ rows: [Row], size: Int) -> String {
    let cells = rows.map { r in
      [
        r.type.name, String(format: "%.4g", r.bitsPerWeight),
        r.quantizeMBps.map { String(format: "%.1f", $0) } ?? "-",
        String(format: "%.1f", r.dequantizeMBps),
      ]
    }
    return "reference codecs, \(size) values per call, single thread, MB/s of f32 data\n"
      + Format.table(
        header: ["type", "bpw", "quantize MB/s", "dequantize MB/s"], rows: cells, rightAligned: [1, 2, 3],
        indent: 0)
  }
}
