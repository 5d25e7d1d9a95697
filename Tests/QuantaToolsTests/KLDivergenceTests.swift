import Foundation
import Testing

@testable import QuantaTools

/// `quanta perplexity --kl-divergence-base / --kl-divergence`: saved distributions compared with a
/// straightforward double-precision reference written here (softmax, Σ p·log(p/q), argmax).
@Suite("KL divergence against a saved base run")
struct KLDivergenceTests {
  let vocabulary = 500

  /// Fixed pseudo-random logits: `rows` positions, values in [-scale, scale].
  func logits(rows: Int, seed: UInt64, scale: Float) -> [[Float]] {
    var s = seed
    return (0..<rows).map { _ in
      (0..<vocabulary).map { _ in
        s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return (Float(s >> 40) / Float(1 << 24) * 2 - 1) * scale
      }
    }
  }

  static func logSoftmax(_ x: [Float]) -> [Double] {
    let m = Double(x.max()!)
    let lse = m + log(x.reduce(0.0) { $0 + exp(Double($1) - m) })
    return x.map { Double($0) - lse }
  }

  func tempPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kld-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
  }

  func save(_ rows: [[Float]], tokens: [Int32], context: Int, to path: String) throws {
    let writer = try KLDivergence.Writer(path: path, vocabulary: vocabulary, context: context, tokens: tokens)
    for r in rows { try r.withUnsafeBufferPointer { try writer.add(logits: $0) } }
    try writer.finish()
  }

  @Test func statisticsMatchTheReference() throws {
    let base = logits(rows: 40, seed: 1, scale: 6)
    // The compared run: the base plus noise, so the top token sometimes changes.
    let noise = logits(rows: 40, seed: 2, scale: 1.5)
    let other = zip(base, noise).map { zip($0, $1).map { $0 + $1 } }
    let next = (0..<40).map { ($0 * 37) % vocabulary }
    let tokens: [Int32] = (0..<80).map { Int32($0 % vocabulary) }
    let path = tempPath("base.qkld")
    try save(base, tokens: tokens, context: 16, to: path)

    let comparison = try KLDivergence.Comparison(
      path: path, vocabulary: vocabulary, context: 16, tokens: tokens)
    for (r, t) in zip(other, next) {
      try r.withUnsafeBufferPointer { try comparison.add(logits: $0, next: t) }
    }
    let stats = comparison.statistics

    var kld = 0.0, same = 0, nllBase = 0.0, nll = 0.0
    for ((b, o), t) in zip(zip(base, other), next) {
      let lb = Self.logSoftmax(b), lo = Self.logSoftmax(o)
      kld += zip(lb, lo).reduce(0.0) { $0 + exp($1.0) * ($1.0 - $1.1) }
      if b.firstIndex(of: b.max()!) == o.firstIndex(of: o.max()!) { same += 1 }
      nllBase -= lb[t]
      nll -= lo[t]
    }
    kld /= 40
    #expect(stats.count == 40)
    #expect(kld > 0.05, "the noise should move the distributions: \(kld)")
    #expect(abs(stats.meanKLD - kld) < 1e-3 * max(1, kld), "\(stats.meanKLD) vs \(kld)")
    #expect(stats.sameTop == same)
    #expect(same > 0 && same < 40, "some, not all, top tokens should agree: \(same)")
    #expect(abs(stats.basePerplexity - exp(nllBase / 40)) / exp(nllBase / 40) < 1e-3)
    #expect(abs(stats.perplexity - exp(nll / 40)) / exp(nll / 40) < 1e-9)
    #expect(stats.kldQuantile(0) <= stats.kldQuantile(0.5) && stats.kldQuantile(0.5) <= stats.kldQuantile(1))
    #expect(stats.report.contains("Mean    KLD:"))
    #expect(stats.report.contains("Same top p:"))
  }

  @Test func identicalRunsAgreeWithinTheRecordsResolution() throws {
    let rows = logits(rows: 10, seed: 3, scale: 8)
    let tokens: [Int32] = Array(repeating: 1, count: 32)
    let path = tempPath("same.qkld")
    try save(rows, tokens: tokens, context: 8, to: path)
    let comparison = try KLDivergence.Comparison(
      path: path, vocabulary: vocabulary, context: 8, tokens: tokens)
    for r in rows { try r.withUnsafeBufferPointer { try comparison.add(logits: $0, next: 0) } }
    // Log-probabilities are stored to 32/65535 nats: the KLD of a run with itself is that small.
    #expect(abs(comparison.statistics.meanKLD) < 5e-4, "\(comparison.statistics.meanKLD)")
    #expect(comparison.statistics.sameTopFraction == 1)
  }

  @Test func aDifferentRunIsRefusedWithTheReason() throws {
    let rows = logits(rows: 2, seed: 4, scale: 4)
    let tokens: [Int32] = [1, 2, 3, 4, 5, 6, 7, 8]
    let path = tempPath("b.qkld")
    try save(rows, tokens: tokens, context: 4, to: path)
    #expect(throws: KLDivergence.Failure.mismatch(path: path, what: "-c", base: 4, this: 8)) {
      try KLDivergence.Comparison(path: path, vocabulary: vocabulary, context: 8, tokens: tokens)
    }
    #expect(throws: KLDivergence.Failure.mismatch(path: path, what: "a vocabulary of", base: 500, this: 400))
    {
      try KLDivergence.Comparison(path: path, vocabulary: 400, context: 4, tokens: tokens)
    }
    var changed = tokens
    changed[5] = 9
    #expect(throws: KLDivergence.Failure.differentTokens(path: path, index: 5)) {
      try KLDivergence.Comparison(path: path, vocabulary: vocabulary, context: 4, tokens: changed)
    }
    // Two positions saved; a third is asked for.
    let comparison = try KLDivergence.Comparison(
      path: path, vocabulary: vocabulary, context: 4, tokens: tokens)
    for r in rows { try r.withUnsafeBufferPointer { try comparison.add(logits: $0, next: 0) } }
    #expect(throws: KLDivergence.Failure.truncated(path: path)) {
      try rows[0].withUnsafeBufferPointer { try comparison.add(logits: $0, next: 0) }
    }
    let notBase = tempPath("text.txt")
    try Data("hello, this is not a base file".utf8).write(to: URL(fileURLWithPath: notBase))
    #expect(throws: KLDivergence.Failure.notABaseFile(path: notBase)) {
      try KLDivergence.Comparison(path: notBase, vocabulary: vocabulary, context: 4, tokens: tokens)
    }
  }

  @Test func anUnfinishedBaseLeavesNoFile() throws {
    let path = tempPath("unfinished.qkld")
    do {
      let writer = try KLDivergence.Writer(
        path: path, vocabulary: vocabulary, context: 4, tokens: [1, 2, 3, 4])
      try logits(rows: 1, seed: 5, scale: 1)[0].withUnsafeBufferPointer { try writer.add(logits: $0) }
    }
    let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
  }
}
