/// Every tensor type a GGUF file can name. Raw values are the on-disk ids (ggml's `enum ggml_type`);
/// ids 4, 5, 31–33 and 36–38 were removed upstream and are deliberately absent.
public enum GGMLType: UInt32, CaseIterable, Sendable, CustomStringConvertible {
  case f32 = 0
  case f16 = 1
  case q4_0 = 2
  case q4_1 = 3
  case q5_0 = 6
  case q5_1 = 7
  case q8_0 = 8
  case q8_1 = 9
  case q2_K = 10
  case q3_K = 11
  case q4_K = 12
  case q5_K = 13
  case q6_K = 14
  case q8_K = 15
  case iq2_xxs = 16
  case iq2_xs = 17
  case iq3_xxs = 18
  case iq1_s = 19
  case iq4_nl = 20
  case iq3_s = 21
  case iq2_s = 22
  case iq4_xs = 23
  case i8 = 24
  case i16 = 25
  case i32 = 26
  case i64 = 27
  case f64 = 28
  case iq1_m = 29
  case bf16 = 30
  case tq1_0 = 34
  case tq2_0 = 35
  case mxfp4 = 39
  case nvfp4 = 40
  case q1_0 = 41
  case q2_0 = 42

  /// The per-type facts, from the one table below.
  public var traits: GGMLTypeTraits { GGMLTypeTraits.table[self]! }

  /// Values per block (1 for plain scalar types).
  public var blockSize: Int { traits.blockSize }
  /// Bytes per block.
  public var typeSize: Int { traits.typeSize }
  /// ggml's name (`q4_K`, `iq2_xxs`, ...), as llama.cpp prints it.
  public var name: String { traits.name }
  /// True for block-quantized types (block size > 1).
  public var isQuantized: Bool { traits.blockSize > 1 }
  public var description: String { name }

  /// Looks a type up by ggml's name, case-insensitively (`Q4_K` and `q4_K` both work).
  public init?(name: String) {
    let lowered = name.lowercased()
    guard let match = GGMLType.allCases.first(where: { $0.name.lowercased() == lowered }) else {
      return nil
    }
    self = match
  }

  /// Bytes needed for `count` values, or nil when `count` is not a multiple of the block size or the
  /// product overflows `Int` (sizes read from files go through here, never through a raw multiply).
  public func byteCount(forElements count: Int) -> Int? {
    guard count >= 0, count % blockSize == 0 else { return nil }
    let (bytes, overflow) = (count / blockSize).multipliedReportingOverflow(by: typeSize)
    return overflow ? nil : bytes
  }
}

/// The facts about one type: ggml's `type_traits[]` row.
public struct GGMLTypeTraits: Sendable {
  public let name: String
  public let blockSize: Int
  public let typeSize: Int

  static let table: [GGMLType: GGMLTypeTraits] = {
    func row(_ name: String, _ blockSize: Int, _ typeSize: Int) -> GGMLTypeTraits {
      GGMLTypeTraits(name: name, blockSize: blockSize, typeSize: typeSize)
    }
    return [
      .f32: row("f32", 1, 4),
      .f16: row("f16", 1, 2),
      .bf16: row("bf16", 1, 2),
      .f64: row("f64", 1, 8),
      .i8: row("i8", 1, 1),
      .i16: row("i16", 1, 2),
      .i32: row("i32", 1, 4),
      .i64: row("i64", 1, 8),
      .q4_0: row("q4_0", 32, 18),
      .q4_1: row("q4_1", 32, 20),
      .q5_0: row("q5_0", 32, 22),
      .q5_1: row("q5_1", 32, 24),
      .q8_0: row("q8_0", 32, 34),
      .q8_1: row("q8_1", 32, 36),
      .q2_K: row("q2_K", 256, 84),
      .q3_K: row("q3_K", 256, 110),
      .q4_K: row("q4_K", 256, 144),
      .q5_K: row("q5_K", 256, 176),
      .q6_K: row("q6_K", 256, 210),
      .q8_K: row("q8_K", 256, 292),
      .iq2_xxs: row("iq2_xxs", 256, 66),
      .iq2_xs: row("iq2_xs", 256, 74),
      .iq2_s: row("iq2_s", 256, 82),
      .iq3_xxs: row("iq3_xxs", 256, 98),
      .iq3_s: row("iq3_s", 256, 110),
      .iq1_s: row("iq1_s", 256, 50),
      .iq1_m: row("iq1_m", 256, 56),
      .iq4_nl: row("iq4_nl", 32, 18),
      .iq4_xs: row("iq4_xs", 256, 136),
      .tq1_0: row("tq1_0", 256, 54),
      .tq2_0: row("tq2_0", 256, 66),
      .mxfp4: row("mxfp4", 32, 17),
      .nvfp4: row("nvfp4", 64, 36),
      .q1_0: row("q1_0", 128, 18),
      .q2_0: row("q2_0", 64, 18),
    ]
  }()
}
