import Foundation
import Testing

@testable import QuantaLM

/// The sampler chain against a written-out reference: every sampler on a fully sorted list of all
/// tokens, in double precision, in llama.cpp's order.
enum ReferenceChain {
  static func distribution(_ raw: [Float], _ o: SamplingOptions, history: [Int32] = []) -> [Int32: Double] {
    var c = raw.enumerated().map { (id: Int32($0.offset), logit: Double($0.element)) }
    for (t, b) in o.logitBias { c[Int(t)].logit += Double(b) }
    if o.repeatLastN != 0 {
      let window = o.repeatLastN < 0 ? history[...] : history.suffix(o.repeatLastN)
      for t in Set(window) {
        let n = Double(window.filter { $0 == t }.count)
        var l = c[Int(t)].logit
        l = l <= 0 ? l * Double(o.repeatPenalty) : l / Double(o.repeatPenalty)
        c[Int(t)].logit = l - n * Double(o.frequencyPenalty) - Double(o.presencePenalty)
      }
    }
    func sortDescending() { c.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) } }
    func softmax() -> [Double] {
      let m = c.map(\.logit).max()!
      let e = c.map { exp($0.logit - m) }
      let s = e.reduce(0, +)
      return e.map { $0 / s }
    }
    if o.topK > 0 && o.topK < c.count {
      sortDescending()
      c = Array(c.prefix(o.topK))
    }
    if o.typicalP < 1 {
      let p = softmax()
      let h = -p.reduce(0) { $0 + ($1 > 0 ? $1 * log($1) : 0) }
      let order = p.indices.sorted {
        let a = abs(-log(p[$0]) - h)
        let b = abs(-log(p[$1]) - h)
        return a < b || (a == b && $0 < $1)
      }
      var cumulative = 0.0
      var n = order.count
      for (i, j) in order.enumerated() {
        cumulative += p[j]
        if cumulative > Double(o.typicalP) {
          n = i + 1
          break
        }
      }
      c = order.prefix(n).map { c[$0] }
    }
    if o.topP < 1 {
      sortDescending()
      let p = softmax()
      var cumulative = 0.0
      for i in p.indices {
        cumulative += p[i]
        if cumulative >= Double(o.topP) {
          c = Array(c.prefix(i + 1))
          break
        }
      }
    }
    if o.minP > 0 {
      let floor = c.map(\.logit).max()! + log(Double(o.minP))
      c = c.filter { $0.logit >= floor }
    }
    if o.temperature <= 0 {
      sortDescending()
      return [c[0].id: 1]
    }
    c = c.map { ($0.id, $0.logit / Double(o.temperature)) }
    let p = softmax()
    return Dictionary(uniqueKeysWithValues: zip(c.map(\.id), p))
  }
}

@Suite struct SamplerChainTests {
  /// Logits with a realistic spread: a few strong tokens, a long tail.
  static func logits(_ n: Int, seed: UInt64, spread: Float = 6) -> [Float] {
    var rng = SplitMix64(seed: seed)
    return (0..<n).map { _ in
      let u = Float(rng.nextDouble())
      return spread * u * u * u + Float(rng.nextDouble()) * 0.5
    }
  }

  static let combos: [SamplingOptions] = [
    options(topK: 40, topP: 0.95, minP: 0.05, temp: 0.8),  // llama.cpp's defaults
    options(topK: 40),
    options(topK: 1),
    options(topP: 0.9),
    options(topP: 0.5, temp: 1.5),
    options(minP: 0.1),
    options(topP: 0.99, minP: 0.01),
    options(topP: 0.999),  // needs the gather to widen
    options(typical: 0.7),
    options(topK: 100, typical: 0.5, topP: 0.9, minP: 0.02, temp: 0.7),
    options(temp: 0.6),  // every token
    options(topP: 0.9, temp: 0),
  ]

  static func options(
    topK: Int = 0, typical: Float = 1, topP: Float = 1, minP: Float = 0, temp: Float = 1
  ) -> SamplingOptions {
    var o = SamplingOptions()
    o.temperature = temp
    o.topK = topK
    o.topP = topP
    o.minP = minP
    o.typicalP = typical
    o.seed = 1
    return o
  }

  @Test(arguments: 0..<combos.count)
  func distributionMatchesTheReference(_ combo: Int) {
    let o = Self.combos[combo]
    for (n, spread) in [(1000, Float(8)), (5000, 1.5), (300, 20)] {
      let x = Self.logits(n, seed: UInt64(combo * 7 + n), spread: spread)
      let expected = ReferenceChain.distribution(x, o)
      var s = Sampler(o)
      let got = s.distribution(x)
      // Float `exp` against double: only a boundary token of tiny mass may fall on the other side.
      let differ = Set(got.map(\.id)).symmetricDifference(expected.keys)
      #expect(
        differ.count <= 1, "combo \(combo), n \(n): \(got.count) candidates, the reference \(expected.count)")
      for id in differ { #expect((expected[id] ?? 0) < 1e-3) }
      for (id, p) in got where !differ.contains(id) {
        #expect(abs(Double(p) - (expected[id] ?? -1)) < 1e-5, "combo \(combo) n \(n) token \(id)")
      }
    }
  }

  @Test(arguments: [0, 3, 5, 8, 10])
  func drawsFollowTheReferenceFrequencies(_ combo: Int) {
    let o = Self.combos[combo]
    let x = Self.logits(400, seed: 99, spread: 7)
    let expected = ReferenceChain.distribution(x, o)
    var s = Sampler(o)
    let draws = 40_000
    var counts: [Int32: Int] = [:]
    for _ in 0..<draws { counts[s.sample(x), default: 0] += 1 }
    #expect(Set(counts.keys).isSubset(of: Set(expected.keys)))
    for (id, p) in expected {
      let f = Double(counts[id] ?? 0) / Double(draws)
      // 5 standard deviations of a binomial frequency, plus rounding slack.
      #expect(abs(f - p) <= 5 * (p * (1 - p) / Double(draws)).squareRoot() + 1e-3, "token \(id)")
    }
  }

  @Test func penaltiesFollowLlamaCpp() {
    var o = Self.options()
    o.repeatPenalty = 2
    o.frequencyPenalty = 0.5
    o.presencePenalty = 1
    o.repeatLastN = 3
    var s = Sampler(o)
    // Token 0 once outside the window; 1 twice and 2 once inside it.
    for t: Int32 in [0, 1, 2, 1] { s.accept(t) }
    let x: [Float] = [3, 3, -1, 0.5]
    let p = Dictionary(uniqueKeysWithValues: s.distribution(x).map { ($0.id, Double($0.probability)) })
    // Expected logits: 3 (outside), 3/2 − 2·0.5 − 1 = −0.5, −1·2 − 0.5 − 1 = −3.5, 0.5.
    #expect(abs(log(p[1]! / p[0]!) - (-0.5 - 3)) < 1e-4)
    #expect(abs(log(p[2]! / p[0]!) - (-3.5 - 3)) < 1e-4)
    #expect(abs(log(p[3]! / p[0]!) - (0.5 - 3)) < 1e-4)
    var reference = ReferenceChain.distribution(x, o, history: [0, 1, 2, 1])
    for (id, q) in p { #expect(abs(q - reference.removeValue(forKey: id)!) < 1e-5) }
  }

  @Test func logitBiasBansAndBoosts() {
    var o = SamplingOptions.greedy
    o.logitBias = [1: -.infinity, 2: 10]
    var s = Sampler(o)
    #expect(!o.isGreedy)
    #expect(s.sample([0, 5, 1]) == 2)
    o.logitBias = [2: -.infinity]
    s = Sampler(o)
    #expect(s.sample([0, 0.5, 1]) == 1)
  }

  @Test func xtcRemovesTheTopChoicesButTheLeastOfThem() {
    var o = Self.options()
    o.xtcProbability = 1
    o.xtcThreshold = 0.1
    var s = Sampler(o)
    let p: [Float] = [0.5, 0.3, 0.15, 0.05]
    let got = s.distribution(p.map { log($0) })
    #expect(got.map(\.id) == [2, 3])
    #expect(abs(got[0].probability - 0.75) < 1e-5)
    // Probability 0: never applies.
    o.xtcProbability = 0
    s = Sampler(o)
    #expect(s.distribution(p.map { log($0) }).count == 4)
  }

  @Test func dryFindsTheRepeatsTheirLengthsAndStopsAtBreakers() {
    // llama.cpp's example: a b c c b c y a b c → c would make "a b c c" (3), y "b c y" (2).
    let (a, b, c, y): (Int32, Int32, Int32, Int32) = (0, 1, 2, 3)
    let ctx: [Int32] = [a, b, c, c, b, c, y, a, b, c]
    #expect(Sampler.dryRepeats(ctx[...], breakers: [], allowedLength: 2) == [c: 3, y: 2])
    #expect(Sampler.dryRepeats(ctx[...], breakers: [], allowedLength: 3) == [c: 3])
    // A breaker right before the repeat's start caps it at the tokens after the breaker.
    #expect(Sampler.dryRepeats(ctx[...], breakers: [a], allowedLength: 2) == [c: 2, y: 2])
    #expect(Sampler.dryRepeats(ctx[...], breakers: [c], allowedLength: 1) == [:])

    var o = Self.options()
    o.dryMultiplier = 0.8
    o.dryBase = 1.75
    o.dryAllowedLength = 2
    var s = Sampler(o, sequenceBreakers: [9])
    for t in ctx { s.accept(t) }
    let got = Dictionary(
      uniqueKeysWithValues: s.distribution([0, 0, 0, 0, 0]).map { ($0.id, Double($0.probability)) })
    #expect(abs(log(got[c]! / got[4]!) + 0.8 * 1.75) < 1e-4)
    #expect(abs(log(got[y]! / got[4]!) + 0.8) < 1e-4)
    #expect(abs(log(got[a]! / got[4]!)) < 1e-4)
  }

  @Test(arguments: [0, 3, 10])
  func sameSeedSameDrawsOnEveryPath(_ combo: Int) {
    var o = Self.combos[combo]
    o.seed = 1234
    let x = Self.logits(3000, seed: 5, spread: 3)
    var a = Sampler(o)
    var b = Sampler(o)
    let first = (0..<50).map { _ in a.sample(x) }
    #expect(first == (0..<50).map { _ in b.sample(x) })
    o.seed = 4321
    var c = Sampler(o)
    #expect(first != (0..<50).map { _ in c.sample(x) })
  }

  @Test func greedyFastPathEqualsTheChainAtTemperatureZero() {
    let x = Self.logits(262_144, seed: 3)
    var fast = Sampler(.greedy)
    var o = SamplingOptions.greedy
    o.topK = 0
    o.presencePenalty = 1e-9  // not greedy any more: the chain runs
    var chain = Sampler(o)
    #expect(!o.isGreedy)
    #expect(fast.sample(x) == chain.sample(x))
    #expect(fast.sample(x) == Int32(x.indices.max { x[$0] < x[$1] }!))
  }

  @Test func simdExpAndScansAgreeWithScalarCode() {
    let x = Self.logits(1003, seed: 11, spread: 40) + [-.infinity, 0, -100]
    let m = x.max()!
    let sum = x.withUnsafeBufferPointer { LogitScan.expSum($0, offset: m) }
    let reference = x.reduce(0.0) { $0 + exp(Double($1 - m)) }
    #expect(abs(sum - reference) / reference < 1e-6)
    var ids: [Int32] = []
    x.withUnsafeBufferPointer { LogitScan.topK($0, k: 17, into: &ids) }
    let sortedIDs = x.indices.sorted { x[$0] > x[$1] || (x[$0] == x[$1] && $0 < $1) }
    #expect(ids == sortedIDs.prefix(17).map { Int32($0) })
    ids = []
    x.withUnsafeBufferPointer { LogitScan.indices($0, atLeast: 3, into: &ids) }
    #expect(ids == x.indices.filter { x[$0] >= 3 }.map { Int32($0) })
  }
}
