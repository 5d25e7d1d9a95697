import Foundation

/// Perplexity with llama.cpp's method (tools/perplexity/perplexity.cpp, `perplexity()`): the whole
/// text tokenized once (BOS first when the vocabulary adds it), cut into non-overlapping chunks of
/// `context` tokens, the first token of every chunk replaced by BOS, the chunk evaluated from an
/// empty cache, and the tokens of its second half scored: the logits at positions
/// `context/2 ..< context-1` against the token that follows each.
public enum Perplexity {
  public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
    case tooFewTokens(have: Int, need: Int, context: Int)
    case invalidContext(Int)
    case logitRows(expected: Int, got: Int)
    case logitRow(position: Int, expected: Int, values: Int, vocabulary: Int)
    case tokenOutOfRange(Int32, vocabulary: Int)

    public var description: String {
      switch self {
      case .tooFewTokens(let have, let need, let c):
        return
          "you need at least \(need) tokens to evaluate perplexity with a context of \(c); the text has \(have)"
      case .invalidContext(let c): return "context size must be at least 4, got \(c)"
      case .logitRows(let e, let g): return "the model returned \(g) rows of logits, expected \(e)"
      case .logitRow(let p, let e, let v, let n):
        return "logits row \(p) (expected row \(e)) has \(v) values, the vocabulary \(n)"
      case .tokenOutOfRange(let t, let n): return "token \(t) is outside the model's \(n) logits"
      }
    }
  }

  /// Running sums of the negative log-likelihood, as llama.cpp keeps them (nll and nll² in double).
  public struct Accumulator: Sendable, Equatable {
    public private(set) var nll = 0.0
    public private(set) var nll2 = 0.0
    public private(set) var count = 0

    public init() {}

    /// Scores one position: the logits of the next token, and the token that did follow.
    public mutating func add(logits: UnsafeBufferPointer<Float>, next token: Int) {
      let v = Self.negativeLogLikelihood(logits, token)
      nll += v
      nll2 += v * v
      count += 1
    }

    public mutating func add(logits: [Float], next token: Int) {
      logits.withUnsafeBufferPointer { add(logits: $0, next: token) }
    }

    /// exp(mean NLL).
    public var perplexity: Double { count == 0 ? .nan : exp(nll / Double(count)) }

    /// llama.cpp's "+/-": the standard error of the mean NLL, sqrt((E[v²] − E[v]²) / (n − 1)),
    /// carried to the perplexity by its derivative (× PPL). nil when the variance is not positive.
    public var uncertainty: Double? {
      guard count > 1 else { return nil }
      let mean = nll / Double(count)
      let variance = nll2 / Double(count) - mean * mean
      guard variance > 0 else { return nil }
      return (variance / Double(count - 1)).squareRoot() * exp(mean)
    }

    /// −log softmax(logits)[token]: max-shifted, exponentials summed in double (as llama.cpp).
    static func negativeLogLikelihood(_ logits: UnsafeBufferPointer<Float>, _ token: Int) -> Double {
      var maxLogit = logits[0]
      for v in logits where v > maxLogit { maxLogit = v }
      var sum = 0.0
      for v in logits { sum += Double(expf(v - maxLogit)) }
      return Double(maxLogit) + log(sum) - Double(logits[token])
    }
  }

  /// The chunks to evaluate: `tokens.count / context` of them, each with BOS in front when `bos`
  /// is given.
  public static func chunks(_ tokens: [Int32], context: Int, bos: Int32?) throws -> [[Int32]] {
    guard context >= 4 else { throw Failure.invalidContext(context) }
    guard tokens.count >= 2 * context else {
      throw Failure.tooFewTokens(have: tokens.count, need: 2 * context, context: context)
    }
    return (0..<tokens.count / context).map { i in
      var chunk = Array(tokens[i * context..<(i + 1) * context])
      if let bos { chunk[0] = bos }
      return chunk
    }
  }

  public struct Result: Sendable {
    public var perplexity: Double
    public var uncertainty: Double?
    public var chunks: Int
    public var scoredTokens: Int
    /// Running perplexity after each chunk (what `[1]x,[2]y,…` prints).
    public var progression: [Double]

    /// `Final estimate: PPL = 12.3456 +/- 0.12345`
    public var finalLine: String {
      String(format: "Final estimate: PPL = %.4f +/- %.5f", perplexity, uncertainty ?? .nan)
    }
  }

  /// Runs the method over `tokens`. `evaluate` gets one chunk (to evaluate from an empty cache),
  /// the first position whose logits are wanted (`context / 2`: the first half only builds the
  /// cache, as llama.cpp asks no outputs for it), and a callback to call with the logits of each
  /// position from there to the end, in order (`vocabulary` values each), so that no more than one
  /// row is held at a time. `chunkDone` sees the chunk number (from 1) and the running perplexity.
  public static func run(
    tokens: [Int32], context: Int, bos: Int32?, vocabulary: Int,
    evaluate: ([Int32], Int, (Int, UnsafeBufferPointer<Float>) throws -> Void) throws -> Void,
    chunkDone: (Int, Double) -> Void = { _, _ in }
  ) throws -> Result {
    let work = try chunks(tokens, context: context, bos: bos)
    if let bad = tokens.first(where: { $0 < 0 || Int($0) >= vocabulary }) {
      throw Failure.tokenOutOfRange(bad, vocabulary: vocabulary)
    }
    var sums = Accumulator()
    var progression: [Double] = []
    let first = context / 2
    for (index, chunk) in work.enumerated() {
      var next = first
      try evaluate(chunk, first) { position, logits in
        guard position == next, logits.count == vocabulary else {
          throw Failure.logitRow(
            position: position, expected: next, values: logits.count, vocabulary: vocabulary)
        }
        next += 1
        if position < context - 1 { sums.add(logits: logits, next: Int(chunk[position + 1])) }
      }
      guard next == context else { throw Failure.logitRows(expected: context - first, got: next - first) }
      progression.append(sums.perplexity)
      chunkDone(index + 1, sums.perplexity)
    }
    return Result(
      perplexity: sums.perplexity, uncertainty: sums.uncertainty, chunks: work.count,
      scoredTokens: sums.count,
      progression: progression)
  }
}
