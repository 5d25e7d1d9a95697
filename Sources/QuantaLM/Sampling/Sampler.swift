import Foundation

/// Sampling settings, with llama.cpp's defaults (common.h): temperature 0.8, top-k 40, top-p 0.95,
/// min-p 0.05, repeat penalty 1.0 over the last 64 tokens.
public struct SamplingOptions: Sendable, Equatable {
  /// ≤ 0 means greedy (argmax).
  public var temperature: Float = 0.8
  /// ≤ 0 disables.
  public var topK: Int = 40
  /// ≥ 1 disables.
  public var topP: Float = 0.95
  /// ≤ 0 disables.
  public var minP: Float = 0.05
  /// 1 disables.
  public var repeatPenalty: Float = 1.0
  public var repeatLastN: Int = 64
  /// Same seed, same text.
  public var seed: UInt64 = 0xFFFF_FFFF

  public init() {}

  public static var greedy: SamplingOptions {
    var o = SamplingOptions()
    o.temperature = 0
    return o
  }
}

/// Picks the next token from logits: penalties → top-k → top-p → min-p → temperature → draw,
/// llama.cpp's default chain order.
public struct Sampler: Sendable {
  public let options: SamplingOptions
  private var rng: SplitMix64
  private var recent: [Int32] = []

  public init(_ options: SamplingOptions) {
    self.options = options
    rng = SplitMix64(seed: options.seed)
  }

  /// Records a token that is part of the context (prompt or generated), for the repeat penalty.
  public mutating func accept(_ token: Int32) {
    guard options.repeatLastN != 0 else { return }
    recent.append(token)
    let keep = options.repeatLastN < 0 ? Int.max : options.repeatLastN
    if recent.count > keep { recent.removeFirst(recent.count - keep) }
  }

  public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
    precondition(!logits.isEmpty, "empty logits")  // a caller bug, not input
    if options.temperature <= 0 && (options.repeatPenalty == 1 || recent.isEmpty) {
      return Int32(argmax(logits))
    }
    var candidates = [(id: Int32, logit: Float)]()
    candidates.reserveCapacity(logits.count)
    for (i, l) in logits.enumerated() { candidates.append((Int32(i), l)) }

    if options.repeatPenalty != 1, !recent.isEmpty {
      // llama.cpp: divide positive logits, multiply negative ones, once per distinct token.
      for t in Set(recent) where Int(t) < candidates.count {
        let l = candidates[Int(t)].logit
        candidates[Int(t)].logit = l <= 0 ? l * options.repeatPenalty : l / options.repeatPenalty
      }
    }
    if options.temperature <= 0 {
      return candidates.max(by: { $0.logit < $1.logit })!.id
    }
    candidates.sort { $0.logit > $1.logit }
    if options.topK > 0 && options.topK < candidates.count {
      candidates.removeSubrange(options.topK...)
    }
    var probs = softmax(candidates.map(\.logit))
    if options.topP < 1 {
      var cumulative: Float = 0
      var keep = candidates.count
      for (i, p) in probs.enumerated() {
        cumulative += p
        if cumulative >= options.topP {
          keep = i + 1
          break
        }
      }
      candidates.removeSubrange(keep...)
      probs.removeSubrange(keep...)
    }
    if options.minP > 0, let top = probs.first {
      let threshold = top * options.minP
      let keep = max(1, probs.firstIndex(where: { $0 < threshold }) ?? probs.count)
      candidates.removeSubrange(keep...)
    }
    let scaled = softmax(candidates.map { $0.logit / options.temperature })
    let r = Float(rng.nextDouble())
    var cumulative: Float = 0
    for (i, p) in scaled.enumerated() {
      cumulative += p
      if r < cumulative { return candidates[i].id }
    }
    return candidates[candidates.count - 1].id
  }

  public mutating func sample(_ logits: [Float]) -> Int32 {
    logits.withUnsafeBufferPointer { sample($0) }
  }
}

func argmax(_ x: UnsafeBufferPointer<Float>) -> Int {
  var best = 0
  var bestValue = -Float.infinity
  for i in 0..<x.count where x[i] > bestValue {
    bestValue = x[i]
    best = i
  }
  return best
}

func softmax(_ x: [Float]) -> [Float] {
  guard let m = x.max() else { return [] }
  var e = x.map { ($0 - m).isNaN ? 0 : Float(exp(Double($0 - m))) }
  let s = e.reduce(0, +)
  for i in e.indices { e[i] /= s }
  return e
}

/// A small, fast, seedable generator (SplitMix64): reproducible across platforms.
struct SplitMix64: RandomNumberGenerator, Sendable {
  private var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
  mutating func nextDouble() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
