/// Sampling settings, with llama.cpp's defaults (common.h): temperature 0.8, top-k 40, top-p 0.95,
/// min-p 0.05, typical-p, XTC, DRY and the penalties off (repeat penalty 1.0 over the last 64 tokens).
public struct SamplingOptions: Sendable, Equatable {
  /// ≤ 0 means greedy (the largest logit left by the samplers before it).
  public var temperature: Float = 0.8
  /// ≤ 0 disables.
  public var topK: Int = 40
  /// ≥ 1 disables.
  public var topP: Float = 0.95
  /// ≤ 0 disables.
  public var minP: Float = 0.05
  /// Locally typical sampling; ≥ 1 disables.
  public var typicalP: Float = 1.0
  /// 1 disables.
  public var repeatPenalty: Float = 1.0
  /// Subtracted once per occurrence in the window; 0 disables.
  public var frequencyPenalty: Float = 0
  /// Subtracted once for any occurrence in the window; 0 disables.
  public var presencePenalty: Float = 0
  /// Tokens the penalties look back over; 0 disables them, −1 means the whole context.
  public var repeatLastN: Int = 64
  /// XTC ("exclude top choices"): the chance per token that it runs; ≤ 0 disables.
  public var xtcProbability: Float = 0
  /// XTC removes the tokens at least this likely except the least likely of them; > 0.5 disables.
  public var xtcThreshold: Float = 0.1
  /// DRY ("don't repeat yourself"): penalty scale; 0 disables.
  public var dryMultiplier: Float = 0
  public var dryBase: Float = 1.75
  /// Repeats up to this length are not penalized.
  public var dryAllowedLength: Int = 2
  /// Tokens DRY looks back over; 0 disables it, −1 means the whole context.
  public var dryPenaltyLastN: Int = -1
  /// Texts that end a repeated sequence for DRY: any token whose text contains one.
  public var drySequenceBreakers: [String] = ["\n", ":", "\"", "*"]
  /// Added to a token's logit before every sampler (−infinity bans it).
  public var logitBias: [Int32: Float] = [:]
  /// Same seed, same text.
  public var seed: UInt64 = 0xFFFF_FFFF
  /// Constrained decoding: only tokens the grammar allows are sampled (a GBNF grammar or a JSON
  /// schema converted to one), and end-of-generation only where the grammar may end.
  public var grammar: GrammarConstraint?

  public init() {}

  public static var greedy: SamplingOptions {
    var o = SamplingOptions()
    o.temperature = 0
    return o
  }

  var penaltiesActive: Bool {
    repeatLastN != 0 && (repeatPenalty != 1 || frequencyPenalty != 0 || presencePenalty != 0)
  }
  var dryActive: Bool { dryMultiplier != 0 && dryBase >= 1 && dryPenaltyLastN != 0 }
  var xtcActive: Bool { xtcProbability > 0 && xtcThreshold <= 0.5 }

  /// The pick is the argmax of the raw logits: top-k, top-p and min-p always keep the largest logit
  /// and nothing else is on, so generation may take the argmax where the model runs.
  /// A grammar needs the logits on the host (its check may reject the argmax), so it is never greedy.
  public var isGreedy: Bool { chainIsGreedy && grammar == nil }

  /// The chain alone picks the argmax of the raw logits.
  var chainIsGreedy: Bool {
    temperature <= 0 && !penaltiesActive && !dryActive && !xtcActive && typicalP >= 1 && logitBias.isEmpty
  }
}
