import Foundation
import QuantaCore

/// Picks the next token from logits with llama.cpp's default chain (common/sampling.cpp): logit
/// bias → penalties → DRY → top-k → typical-p → top-p → min-p → XTC → temperature → draw.
///
/// Only three kinds of pass read the whole vocabulary: a copy when bias, penalties or DRY change
/// some logits; the top-k heap, or without top-k a threshold gather of the tokens top-p / min-p
/// can keep (and one `exp` pass for top-p's normalizer); the draw when nothing truncates. Every
/// later sampler works on those few candidates.
public struct Sampler: Sendable {
  public let options: SamplingOptions
  private var rng: SplitMix64
  /// Accepted tokens (prompt and generated), newest last, kept for the penalties and DRY.
  private var history: [Int32] = []
  private let penaltyWindow: Int
  private let dryWindow: Int
  private let historyLimit: Int
  /// Tokens whose text holds a DRY sequence breaker.
  private let breakers: Set<Int32>
  /// The logits after bias, penalties and DRY (a copy, made only when one of them is on).
  private var adjusted: [Float] = []
  /// The candidates: ids and logits, largest logit first when `sorted`.
  private var ids: [Int32] = []
  private var logits: [Float] = []
  private var sorted = false
  /// `exp` terms of the draw.
  private var weights: [Float] = []
  /// The grammar's state (`options.grammar`).
  private var constrained: ConstrainedState?
  /// A `sample` came since the last `accept`: the next accepted token is a generated one.
  private var sampledSinceAccept = false
  /// The chain's row with the tokens the grammar refuses at −infinity (the resampling path).
  private var masked: [Float] = []
  /// Set when the grammar allowed no token (a grammar no token can continue, or every allowed one
  /// banned), or a token it refused was accepted: the sampler then returned an end-of-generation
  /// id, and generation should stop.
  public private(set) var grammarFailed = false
  /// Whether every path through the grammar has ended (only end of generation may follow).
  public var grammarComplete: Bool { constrained?.matcher.isComplete ?? false }

  /// - Parameters:
  ///   - options: the chain's settings.
  ///   - contextLength: what a window of −1 (`repeatLastN`, `dryPenaltyLastN`) means.
  ///   - sequenceBreakers: DRY's breaker tokens (`Tokenizer.tokens(containing:)` of
  ///     `options.drySequenceBreakers`).
  public init(_ options: SamplingOptions, contextLength: Int = .max, sequenceBreakers: Set<Int32> = []) {
    self.options = options
    rng = SplitMix64(seed: options.seed)
    penaltyWindow = options.repeatLastN < 0 ? contextLength : options.repeatLastN
    dryWindow = options.dryPenaltyLastN < 0 ? contextLength : options.dryPenaltyLastN
    historyLimit = max(options.penaltiesActive ? penaltyWindow : 0, options.dryActive ? dryWindow : 0)
    breakers = sequenceBreakers
    constrained = options.grammar.map(ConstrainedState.init)
  }

  /// Records a token that is part of the context (prompt or generated), for the penalties and DRY.
  /// With a grammar, a token accepted after a `sample` is the generation's: the grammar advances
  /// over it (tokens accepted before the first `sample`, the prompt, do not move it).
  public mutating func accept(_ token: Int32) {
    if sampledSinceAccept, constrained != nil {
      sampledSinceAccept = false
      if !constrained!.accept(token) { grammarFailed = true }
    }
    guard historyLimit > 0 else { return }
    history.append(token)
    // Trimmed in bulk, not one removeFirst per token.
    if historyLimit < Int.max / 2, history.count >= 2 * historyLimit + 64 {
      history.removeFirst(history.count - historyLimit)
    }
  }

  /// The next token. With a grammar, as llama.cpp's `common_sampler_sample`: the chain draws
  /// first and the grammar checks only that token; when it refuses, the chain runs again over the
  /// tokens the grammar allows. That second pass checks candidates in logit order only until the
  /// chain's first stage is filled (top-k's k tokens, or the best one for a greedy chain); without
  /// top-k it checks every token.
  public mutating func sample(_ raw: UnsafeBufferPointer<Float>) -> Int32 {
    precondition(!raw.isEmpty, "empty logits")  // a caller bug, not input
    guard constrained != nil else { return sampleChain(raw) }
    sampledSinceAccept = true
    let first = sampleChain(raw)
    if constrained!.allows(first) { return first }
    guard runChain(raw, constrained: true) else {
      // Nothing is allowed: end the generation (an end-of-generation id, else the argmax).
      grammarFailed = true
      return constrained!.constraint.endOfGeneration.min() ?? Int32(LogitScan.argmax(raw))
    }
    return draw()
  }

  private mutating func sampleChain(_ raw: UnsafeBufferPointer<Float>) -> Int32 {
    if options.chainIsGreedy { return Int32(LogitScan.argmax(raw)) }
    runChain(raw, constrained: false)
    return draw()
  }

  private mutating func draw() -> Int32 { draw(uniform: rng.nextDouble()) }

  /// The candidate at `uniform`'s position in their cumulative weights.
  private mutating func draw(uniform: Double) -> Int32 {
    let total = fillWeights()
    let r = uniform * total
    var cumulative = 0.0
    for (i, w) in weights.enumerated() {
      cumulative += Double(w)
      if r < cumulative { return ids[i] }
    }
    return ids[ids.count - 1]
  }

  // MARK: sampling on the device

  /// Whether the chain can run where the logits are (`PlanOp.sample`, `DeviceSampling`), for rows
  /// of `vocabularySize` logits: no grammar, logit bias, DRY, XTC or typical-p, and greedy, top-k up
  /// to `DeviceSampling.maxCandidates`, or top-p / min-p without top-k (a chain that truncates
  /// nothing draws over the whole row: the host's).
  public func runsOnDevice(vocabularySize n: Int) -> Bool {
    let o = options
    guard constrained == nil, o.logitBias.isEmpty, !o.dryActive, !o.xtcActive, o.typicalP >= 1 else {
      return false
    }
    if o.temperature <= 0 { return true }
    if o.topK > 0 && o.topK < n { return o.topK <= DeviceSampling.maxCandidates }
    return o.topP < 1 || o.minP > 0
  }

  /// Writes this step's `DeviceSampling` record (`DeviceSampling.recordWords` values) and draws its
  /// uniform, advancing the generator as `sample` would. Returns the uniform, or nil, with nothing
  /// written or drawn, when the step's penalty window holds more than `DeviceSampling.windowCapacity`
  /// tokens (the host samples that step).
  public mutating func fillDeviceRecord(_ record: UnsafeMutableBufferPointer<Int32>) -> Double? {
    precondition(record.count >= DeviceSampling.recordWords, "record of \(record.count) words")  // caller bug
    let o = options
    let window = o.penaltiesActive ? history.suffix(penaltyWindow) : []
    guard window.count <= DeviceSampling.windowCapacity else { return nil }
    typealias D = DeviceSampling
    for i in 0..<D.recordWords { record[i] = 0 }
    func put(_ v: Float, _ at: Int) { record[at] = Int32(bitPattern: v.bitPattern) }
    record[D.topK] = Int32(clamping: o.topK)
    put(o.topP, D.topP)
    put(o.minP, D.minP)
    put(o.minP > 0 ? log(o.minP) : 0, D.logMinP)
    put(o.temperature, D.temperature)
    put(o.repeatPenalty, D.repeatPenalty)
    put(o.frequencyPenalty, D.frequencyPenalty)
    put(o.presencePenalty, D.presencePenalty)
    record[D.windowCount] = Int32(window.count)
    for (i, t) in window.enumerated() { record[D.headerWords + i] = t }
    // A greedy chain draws nothing (`sampleChain` takes the argmax).
    let u = o.chainIsGreedy ? 0 : rng.nextDouble()
    let bits = u.bitPattern
    record[D.uniform] = Int32(bitPattern: UInt32(truncatingIfNeeded: bits))
    record[D.uniform + 1] = Int32(bitPattern: UInt32(truncatingIfNeeded: bits >> 32))
    return u
  }

  /// The chain's pick from `raw` at a uniform `fillDeviceRecord` drew (a row the device gave back):
  /// what `sample` returns when its generator yields `uniform`.
  public mutating func sample(_ raw: UnsafeBufferPointer<Float>, uniform: Double) -> Int32 {
    precondition(!raw.isEmpty && constrained == nil, "empty logits or a grammar")  // caller bug
    if options.chainIsGreedy { return Int32(LogitScan.argmax(raw)) }
    runChain(raw, constrained: false)
    return draw(uniform: uniform)
  }

  public mutating func sample(_ raw: [Float]) -> Int32 {
    raw.withUnsafeBufferPointer { sample($0) }
  }

  /// The tokens the draw would choose from and their probabilities (the chain without the draw;
  /// XTC still rolls its dice).
  public mutating func distribution(_ raw: [Float]) -> [(id: Int32, probability: Float)] {
    raw.withUnsafeBufferPointer { _ = runChain($0, constrained: false) }
    let total = Float(fillWeights())
    return zip(ids, weights).map { ($0, $1 / total) }
  }

  // MARK: the chain

  /// Runs the chain up to the draw; with `constrained`, over the tokens the grammar allows only.
  /// Returns false when the grammar allows none.
  @discardableResult
  private mutating func runChain(_ raw: UnsafeBufferPointer<Float>, constrained: Bool) -> Bool {
    let o = options
    var work: [Float] = []
    swap(&work, &adjusted)
    defer { swap(&work, &adjusted) }
    let first: Bool?
    if o.penaltiesActive || o.dryActive || !o.logitBias.isEmpty {
      work.removeAll(keepingCapacity: true)
      work.append(contentsOf: raw)
      adjust(&work)
      first = work.withUnsafeBufferPointer { firstSelection($0, constrained: constrained) }
    } else {
      first = firstSelection(raw, constrained: constrained)
    }
    guard let prefixApplied = first else { return false }
    if o.typicalP < 1 { typical() }
    if o.topP < 1 && !prefixApplied { topP() }
    if o.minP > 0 && !prefixApplied { minP() }
    if o.xtcActive { xtc() }
    if o.temperature <= 0 {
      let best = logits.indices.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }!
      keep([best])
    } else if o.temperature != 1 {
      for i in logits.indices { logits[i] /= o.temperature }
    }
    return true
  }

  /// `select` over `x`, or over `x` with the grammar's refused tokens at −infinity; nil when the
  /// grammar allows no token.
  private mutating func firstSelection(_ x: UnsafeBufferPointer<Float>, constrained: Bool) -> Bool? {
    guard constrained else { return select(x) }
    var row: [Float] = []
    swap(&row, &masked)
    defer { swap(&row, &masked) }
    guard maskRefused(x, into: &row) else { return nil }
    return row.withUnsafeBufferPointer { select($0) }
  }

  /// Fills `row` with `x` where the grammar allows the token and −infinity elsewhere, as far as
  /// the chain's first stage can tell: with top-k (or a greedy chain) the candidates are checked in
  /// logit order, in growing batches, until k allowed ones are found, and the rest stay −infinity
  /// (top-k would drop them anyway); otherwise every token is checked. Returns whether any token
  /// is allowed.
  private mutating func maskRefused(_ x: UnsafeBufferPointer<Float>, into row: inout [Float]) -> Bool {
    let o = options
    let n = x.count
    row.removeAll(keepingCapacity: true)
    row.append(contentsOf: repeatElement(-Float.infinity, count: n))
    let state = constrained!
    let filter = state.firstByteFilter()
    let firstBytes = filter == nil ? [] : state.constraint.firstBytes
    let endIDs = state.constraint.endOfGeneration
    var found = 0
    func check(_ id: Int32) {
      let v = x[Int(id)]
      // Banned tokens (bias −infinity) stay banned; NaN is no logit. The first-byte table refuses
      // most tokens before any set lookup or grammar step; a token with no text (first byte 0) may
      // be an end-of-generation id, which the grammar decides.
      guard v > -.infinity else { return }
      if let filter {
        let b = firstBytes[Int(id)]
        if !filter[Int(b)] && (b != 0 || !endIDs.contains(id)) { return }
      }
      guard state.allowsUncached(id) else { return }
      row[Int(id)] = v
      found += 1
    }
    let need: Int
    if o.topK > 0 && o.topK < n {
      need = o.topK
    } else if o.temperature <= 0 && o.typicalP >= 1 && !o.xtcActive {
      need = 1
    } else {
      need = n
    }
    // Past a quarter of the vocabulary a full scan is cheaper than another top-k.
    if need < n / 4 {
      var k = min(n, max(64, need * 4))
      var checked = 0
      var order: [Int32] = []
      while k <= n / 4 {
        order.removeAll(keepingCapacity: true)
        LogitScan.topK(x, k: k, into: &order)
        for id in order[checked...] { check(id) }
        checked = k
        if found >= need { return true }
        k *= 8
      }
      row.removeAll(keepingCapacity: true)
      row.append(contentsOf: repeatElement(-Float.infinity, count: n))
      found = 0
    }
    for id in 0..<Int32(n) { check(id) }
    return found > 0
  }

  /// Logit bias, then the repeat / frequency / presence penalties, then DRY, on a copy.
  private func adjust(_ x: inout [Float]) {
    let o = options
    for (t, b) in o.logitBias where t >= 0 && Int(t) < x.count { x[Int(t)] += b }
    if o.penaltiesActive {
      var counts: [Int32: Int] = [:]
      for t in history.suffix(penaltyWindow) { counts[t, default: 0] += 1 }
      for (t, c) in counts where t >= 0 && Int(t) < x.count {
        var l = x[Int(t)]
        // Divide a positive logit, multiply a negative one: both make the token less likely.
        l = l <= 0 ? l * o.repeatPenalty : l / o.repeatPenalty
        x[Int(t)] = l - Float(c) * o.frequencyPenalty - o.presencePenalty
      }
    }
    if o.dryActive {
      let repeats = Self.dryRepeats(
        history.suffix(dryWindow), breakers: breakers, allowedLength: o.dryAllowedLength)
      // pow(base, e) overflows a float past this exponent.
      let maxExponent = o.dryBase > 1.000_001 ? Int(88.722_839 / log(o.dryBase)) : Int.max
      for (t, length) in repeats where t >= 0 && Int(t) < x.count && !breakers.contains(t) {
        let e = min(length - o.dryAllowedLength, maxExponent)
        x[Int(t)] -= o.dryMultiplier * pow(o.dryBase, Float(e))
      }
    }
  }

  /// The first candidate set from the whole row: top-k's, else the set top-p and min-p keep (then
  /// applied here, returns true), else every token.
  private mutating func select(_ x: UnsafeBufferPointer<Float>) -> Bool {
    let o = options
    ids.removeAll(keepingCapacity: true)
    logits.removeAll(keepingCapacity: true)
    var applied = false
    if o.topK > 0 && o.topK < x.count {
      LogitScan.topK(x, k: o.topK, into: &ids)
      sorted = true
    } else if o.typicalP >= 1 && (o.topP < 1 || o.minP > 0) {
      selectPrefix(x)
      sorted = true
      applied = true
    } else {
      ids.append(contentsOf: 0..<Int32(x.count))
      logits.append(contentsOf: x)
      sorted = false
      return false
    }
    for id in ids { logits.append(x[Int(id)]) }
    return applied
  }

  /// Top-p then min-p over the whole row without sorting it: both keep a prefix of the tokens in
  /// logit order, so the result is the shorter prefix. Tokens within `delta` of the largest logit
  /// (and above min-p's floor) are gathered and sorted; when their mass (over the whole row's
  /// normalizer) is short of top-p, `delta` doubles.
  private mutating func selectPrefix(_ x: UnsafeBufferPointer<Float>) {
    let o = options
    let m = LogitScan.max(x)
    let minFloor = o.minP > 0 ? m + log(o.minP) : -Float.infinity
    let z = o.topP < 1 ? LogitScan.expSum(x, offset: m) : 1
    var delta: Float = 8
    while true {
      let floor = max(minFloor, m - delta)
      ids.removeAll(keepingCapacity: true)
      LogitScan.indices(x, atLeast: floor, into: &ids)
      LogitScan.sortDescending(&ids) { x[Int($0)] }
      var keep = max(ids.count, 1)
      var reached = false
      if o.topP < 1 {
        var cumulative = 0.0
        for (i, id) in ids.enumerated() {
          cumulative += Foundation.exp(Double(x[Int(id)] - m)) / z
          if cumulative >= Double(o.topP) {
            keep = i + 1
            reached = true
            break
          }
        }
      }
      // Past 256 below the top a token's probability is 0 in float: nothing more can count.
      if reached || floor <= minFloor || delta >= 256 {
        if ids.isEmpty { ids.append(Int32(x.firstIndex(of: m) ?? 0)) }
        ids.removeSubrange(min(keep, ids.count)...)
        return
      }
      delta *= 2
    }
  }

  /// Locally typical sampling: keeps the tokens whose surprise `−log p` is closest to the
  /// entropy, until their mass passes `typicalP`. (llama.cpp's own test `cum > p && i >=
  /// min_keep − 1` never passes with its default `min_keep` of 0, so there it keeps every token.)
  private mutating func typical() {
    let p = probabilities()
    var entropy = 0.0
    for q in p where q > 0 { entropy -= q * log(q) }
    let score = p.map { abs(-log($0) - entropy) }
    let order = p.indices.sorted { score[$0] < score[$1] || (score[$0] == score[$1] && $0 < $1) }
    var cumulative = 0.0
    var n = order.count
    for (i, j) in order.enumerated() {
      cumulative += p[j]
      if cumulative > Double(options.typicalP) {
        n = i + 1
        break
      }
    }
    keep(Array(order[..<n]))
    sorted = false
  }

  /// The most likely tokens until their mass reaches `topP`.
  private mutating func topP() {
    sortCandidates()
    let p = probabilities()
    var cumulative = 0.0
    for i in p.indices {
      cumulative += p[i]
      if cumulative >= Double(options.topP) {
        keep(Array(0...i))
        return
      }
    }
  }

  /// The tokens at least `minP` times as likely as the most likely one.
  private mutating func minP() {
    guard let m = logits.max() else { return }
    let floor = m + log(options.minP)
    let kept = logits.indices.filter { logits[$0] >= floor }
    // A min-p above 1 keeps nothing by the rule: keep the most likely token.
    keep(kept.isEmpty ? [logits.firstIndex(of: m)!] : kept)
  }

  /// XTC: with probability `xtcProbability`, removes every token at least `xtcThreshold` likely
  /// except the least likely of them.
  private mutating func xtc() {
    guard ids.count >= 2 else { return }
    guard Float(rng.nextDouble()) <= options.xtcProbability else { return }
    sortCandidates()
    let p = probabilities()
    var last = 0
    for i in p.indices {
      guard p[i] >= Double(options.xtcThreshold) else { break }
      last = i
    }
    if last > 0 { keep(Array(last..<ids.count)) }
  }

  // MARK: candidates

  /// Keeps the candidates at `order`, in that order.
  private mutating func keep(_ order: [Int]) {
    ids = order.map { ids[$0] }
    logits = order.map { logits[$0] }
  }

  private mutating func sortCandidates() {
    guard !sorted else { return }
    // Positions sorted by their logits (ties: the earlier position first).
    var order = Array(0..<Int32(ids.count))
    let l = logits
    LogitScan.sortDescending(&order) { l[Int($0)] }
    keep(order.map(Int.init))
    sorted = true
  }

  /// Softmax of the candidates' logits.
  private func probabilities() -> [Double] {
    guard let m = logits.max() else { return [] }
    let e = logits.map { Double(Foundation.exp($0 - m)) }
    let s = e.reduce(0, +)
    return e.map { $0 / s }
  }

  /// `weights` = `exp(logit − max)` of every candidate; returns their sum.
  private mutating func fillWeights() -> Double {
    let m = logits.max() ?? 0
    if weights.count < logits.count { weights = [Float](repeating: 0, count: logits.count) }
    weights.removeSubrange(logits.count...)
    return logits.withUnsafeBufferPointer { x in
      weights.withUnsafeMutableBufferPointer { LogitScan.expSum(x, offset: m, into: $0) }
    }
  }

  // MARK: DRY

  /// For each token that would extend a repeat of the context's last tokens: the longest such
  /// repeat, when at least `allowedLength` (llama.cpp's DRY with single-token sequence breakers).
  /// A breaker ends every repeat, so none reaches back past the last breaker.
  static func dryRepeats(_ window: ArraySlice<Int32>, breakers: Set<Int32>, allowedLength: Int) -> [Int32:
    Int]
  {
    let n = window.count
    guard n > allowedLength else { return [:] }
    let rev = Array(window.reversed())  // rev[0] is the newest token
    let limit = rev.firstIndex(where: breakers.contains) ?? n
    guard limit >= allowedLength else { return [:] }
    // z[k]: how many tokens ending at rev[k] (going back) equal the newest ones (Z-algorithm).
    var z = [Int](repeating: 0, count: n)
    var left = 0
    var right = 0
    for k in 1..<n {
      var length = k < right ? min(right - k, z[k - left]) : 0
      while k + length < n && rev[length] == rev[k + length] { length += 1 }
      z[k] = length
      if k + length > right {
        left = k
        right = k + length
      }
    }
    var longest: [Int32: Int] = [:]
    for k in 1..<n {
      let length = min(z[k], limit)
      guard length >= allowedLength else { continue }
      // The token that followed that earlier occurrence would extend the repeat.
      longest[rev[k - 1]] = max(longest[rev[k - 1]] ?? 0, length)
    }
    return longest
  }
}

extension Tokenizer {
  /// Tokens whose text contains any of `texts` (DRY's sequence breakers: a multi-token breaker,
  /// which llama.cpp also matches across tokens, is matched only inside one token here).
  public func tokens(containing texts: [String]) -> Set<Int32> {
    let needles = texts.map { Array($0.utf8) }.filter { !$0.isEmpty }
    guard !needles.isEmpty else { return [] }
    var found = Set<Int32>()
    for id in 0..<Int32(vocabulary.tokens.count) {
      let bytes = piece(id)
      for needle in needles where bytes.count >= needle.count {
        if (0...(bytes.count - needle.count)).contains(where: {
          bytes[$0..<($0 + needle.count)].elementsEqual(needle)
        }) {
          found.insert(id)
          break
        }
      }
    }
    return found
  }
}

/// A small, fast, seedable generator (SplitMix64): reproducible across platforms. The package's one
/// copy: the sampler, the self-tests and `quanta synth` draw from it.
package struct SplitMix64: RandomNumberGenerator, Sendable {
  private var state: UInt64
  package init(seed: UInt64) { state = seed }
  package mutating func next() -> UInt64 { splitMix64(&state) }
  package mutating func nextDouble() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

/// SplitMix64's step (Steele, Lea, Flood 2014): a fast, well-mixed 64-bit generator whose output
/// depends only on its state, so seeded streams are the same on every platform.
@inlinable
package func splitMix64(_ state: inout UInt64) -> UInt64 {
  state &+= 0x9E37_79B9_7F4A_7C15
  var z = state
  z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
  z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
  return z ^ (z >> 31)
}
