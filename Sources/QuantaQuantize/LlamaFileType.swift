import GGML

/// llama.cpp's `enum llama_ftype` (include/llama.h): the value a quantized file records in
/// `general.file_type`, and the "mix" `llama-quantize TYPE` selects. Raw values are llama.cpp's.
/// Ids 4–6 and 33–35 were removed upstream and are deliberately absent.
public enum LlamaFileType: UInt32, CaseIterable, Sendable, CustomStringConvertible {
  case allF32 = 0
  case mostlyF16 = 1
  case q4_0 = 2
  case q4_1 = 3
  case q8_0 = 7
  case q5_0 = 8
  case q5_1 = 9
  case q2_K = 10
  case q3_K_S = 11
  case q3_K_M = 12
  case q3_K_L = 13
  case q4_K_S = 14
  case q4_K_M = 15
  case q5_K_S = 16
  case q5_K_M = 17
  case q6_K = 18
  case iq2_xxs = 19
  case iq2_xs = 20
  case q2_K_S = 21
  case iq3_xs = 22
  case iq3_xxs = 23
  case iq1_s = 24
  case iq4_nl = 25
  case iq3_s = 26
  case iq3_m = 27
  case iq2_s = 28
  case iq2_m = 29
  case iq4_xs = 30
  case iq1_m = 31
  case mostlyBF16 = 32
  case tq1_0 = 36
  case tq2_0 = 37
  case mxfp4_moe = 38
  case nvfp4 = 39
  case q1_0 = 40
  case q2_0 = 41

  /// The name `llama-quantize` prints and accepts (tools/quantize/quantize.cpp's QUANT_OPTIONS).
  public var name: String {
    switch self {
    case .allF32: "F32"
    case .mostlyF16: "F16"
    case .q4_0: "Q4_0"
    case .q4_1: "Q4_1"
    case .q8_0: "Q8_0"
    case .q5_0: "Q5_0"
    case .q5_1: "Q5_1"
    case .q2_K: "Q2_K"
    case .q3_K_S: "Q3_K_S"
    case .q3_K_M: "Q3_K_M"
    case .q3_K_L: "Q3_K_L"
    case .q4_K_S: "Q4_K_S"
    case .q4_K_M: "Q4_K_M"
    case .q5_K_S: "Q5_K_S"
    case .q5_K_M: "Q5_K_M"
    case .q6_K: "Q6_K"
    case .iq2_xxs: "IQ2_XXS"
    case .iq2_xs: "IQ2_XS"
    case .q2_K_S: "Q2_K_S"
    case .iq3_xs: "IQ3_XS"
    case .iq3_xxs: "IQ3_XXS"
    case .iq1_s: "IQ1_S"
    case .iq4_nl: "IQ4_NL"
    case .iq3_s: "IQ3_S"
    case .iq3_m: "IQ3_M"
    case .iq2_s: "IQ2_S"
    case .iq2_m: "IQ2_M"
    case .iq4_xs: "IQ4_XS"
    case .iq1_m: "IQ1_M"
    case .mostlyBF16: "BF16"
    case .tq1_0: "TQ1_0"
    case .tq2_0: "TQ2_0"
    case .mxfp4_moe: "MXFP4_MOE"
    case .nvfp4: "NVFP4"
    case .q1_0: "Q1_0"
    case .q2_0: "Q2_0"
    }
  }

  public var description: String { name }

  /// The tensor type most weights of this mix get: upstream's `llama_ftype_get_default_type`.
  public var defaultType: GGMLType {
    switch self {
    case .q4_0: return .q4_0
    case .q4_1: return .q4_1
    case .q5_0: return .q5_0
    case .q5_1: return .q5_1
    case .q8_0: return .q8_0
    case .mostlyF16: return .f16
    case .mostlyBF16: return .bf16
    case .allF32: return .f32
    case .q1_0: return .q1_0
    case .q2_0: return .q2_0
    case .mxfp4_moe: return .mxfp4
    case .nvfp4: return .nvfp4
    case .q2_K_S, .q2_K: return .q2_K
    case .iq3_xs: return .iq3_s
    case .q3_K_S, .q3_K_M, .q3_K_L: return .q3_K
    case .q4_K_S, .q4_K_M: return .q4_K
    case .q5_K_S, .q5_K_M: return .q5_K
    case .q6_K: return .q6_K
    case .tq1_0: return .tq1_0
    case .tq2_0: return .tq2_0
    case .iq2_xxs: return .iq2_xxs
    case .iq2_xs: return .iq2_xs
    // Upstream maps the IQ2_S mix to iq2_xs and IQ2_M to iq2_s (not a typo here).
    case .iq2_s: return .iq2_xs
    case .iq2_m: return .iq2_s
    case .iq3_xxs: return .iq3_xxs
    case .iq1_s: return .iq1_s
    case .iq1_m: return .iq1_m
    case .iq4_nl: return .iq4_nl
    case .iq4_xs: return .iq4_xs
    case .iq3_s, .iq3_m: return .iq3_s
    }
  }

  /// Short aliases llama-quantize accepts for the "medium" k-quant mixes.
  static let aliases: [String: LlamaFileType] = [
    "Q3_K": .q3_K_M, "Q4_K": .q4_K_M, "Q5_K": .q5_K_M,
  ]

  /// Parses a `quantize` TYPE argument: a mix name or alias (case-insensitive, as llama-quantize
  /// upper-cases its argument) or llama.cpp's numeric file type.
  public init?(argument: String) {
    let upper = argument.uppercased()
    if let alias = Self.aliases[upper] {
      self = alias
      return
    }
    if let match = Self.allCases.first(where: { $0.name == upper }) {
      self = match
      return
    }
    if let number = UInt32(argument), let match = LlamaFileType(rawValue: number) {
      self = match
      return
    }
    return nil
  }

  /// Every accepted name, for error messages and `--help`.
  public static var acceptedNames: [String] {
    allCases.map(\.name) + aliases.keys.sorted()
  }
}
