import Foundation
import QuantaFiles

/// llama-perplexity's KL-divergence comparison. A base run saves the log-probabilities of every scored
/// position (`--kl-divergence-base FILE`); a later run over the same text and `-c` — another device,
/// quant type or build — reads them (`--kl-divergence`) and reports how far its next-token
/// distributions are from the base: mean KL divergence and its quantiles, how often both put the same
/// token on top, and the two perplexities.
///
/// File (little-endian): "QKLD", UInt32 version, UInt32 vocabulary, UInt32 context, UInt32 token
/// count, the tokens (Int32); then one record per scored position: Float32 `low`, Float32 `step` and
/// vocabulary × UInt16 `q`, log p ≈ low + step·q. Log-probabilities more than `range` below the row's
/// largest are stored as `low` (their probability, under e⁻³², does not move the sums).
///
/// `Comparison` also reads llama-perplexity's own base files (`--kl-divergence-base` there,
/// tools/perplexity/perplexity.cpp): "_logits_", UInt32 n_ctx, Int32 n_vocab, Int32 n_chunk, the
/// n_chunk × n_ctx tokens (Int32); then per scored position `nv = 2·⌈n_vocab / 2⌉ + 4` UInt16: Float32
/// `scale`, Float32 `min_log_prob`, n_vocab codes (log p = min_log_prob + scale·code, everything
/// 16 nats or more below the row's largest as code 0) and padding to an even count.
public enum KLDivergence {
  static let llamaMagic: [UInt8] = Array("_logits_".utf8)
  static let magic: [UInt8] = Array("QKLD".utf8)
  static let version: UInt32 = 1
  /// Nats below the row's most likely token that a record resolves; the step is range / 65535.
  static let range: Float = 32

  public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
    case notABaseFile(path: String)
    /// A llama-perplexity base file whose size disagrees with its header.
    case llamaFileSize(path: String, expected: Int, actual: Int)
    case unsupportedVersion(path: String, version: UInt32)
    case mismatch(path: String, what: String, base: Int, this: Int)
    case differentTokens(path: String, index: Int)
    case truncated(path: String)
    case io(path: String, reason: String)

    public var description: String {
      switch self {
      case .notABaseFile(let p):
        return
          "\(p) is not a KL-divergence base file (neither Quanta's QKLD nor llama-perplexity's _logits_ header)"
      case .llamaFileSize(let p, let e, let a):
        return "\(p) is a llama-perplexity base file of \(a) bytes; its header implies \(e)"
      case .unsupportedVersion(let p, let v):
        return "\(p) is a KL-divergence base of version \(v); this build reads 1"
      case .mismatch(let p, let what, let b, let t):
        return
          "\(p) was saved with \(what) \(b), this run has \(t): use the same model vocabulary, text and -c"
      case .differentTokens(let p, let i):
        return "\(p) was saved from a different text or tokenization (token \(i) differs)"
      case .truncated(let p): return "\(p) ends early: fewer scored positions than this run has"
      case .io(let p, let r): return "\(p): \(r)"
      }
    }
  }

  /// Log-softmax of `logits` in double (max-shifted, as Perplexity's NLL).
  static func logSoftmax(_ logits: UnsafeBufferPointer<Float>) -> [Double] {
    var maxLogit = logits[0]
    for v in logits where v > maxLogit { maxLogit = v }
    var sum = 0.0
    for v in logits { sum += exp(Double(v - maxLogit)) }
    let shift = Double(maxLogit) + log(sum)
    return logits.map { Double($0) - shift }
  }

  /// One record: `low`, `step`, the 16-bit codes.
  static func encode(_ logp: [Double]) -> (low: Float, step: Float, codes: [UInt16]) {
    let top = logp.max() ?? 0
    let low = max(logp.min() ?? 0, top - Double(range))
    let step = top > low ? (top - low) / 65535 : 1
    let codes = logp.map { v -> UInt16 in UInt16(max(0, min(65535, ((v - low) / step).rounded()))) }
    return (Float(low), Float(step), codes)
  }

  static func header(vocabulary: Int, context: Int, tokens: [Int32]) -> Data {
    var d = Data(magic)
    for v in [version, UInt32(vocabulary), UInt32(context), UInt32(tokens.count)] {
      withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) }
    }
    for t in tokens { withUnsafeBytes(of: t.littleEndian) { d.append(contentsOf: $0) } }
    return d
  }

  /// Writes a base file through a temporary file, renamed onto `path` by `finish()` only.
  public final class Writer {
    let output: TemporaryOutput
    let handle: FileHandle
    let vocabulary: Int

    public init(path: String, vocabulary: Int, context: Int, tokens: [Int32]) throws {
      output = TemporaryOutput(finalPath: path)
      guard FileManager.default.createFile(atPath: output.temporaryPath, contents: nil),
        let h = FileHandle(forWritingAtPath: output.temporaryPath)
      else { throw Failure.io(path: path, reason: "cannot create \(output.temporaryPath)") }
      handle = h
      self.vocabulary = vocabulary
      try write(KLDivergence.header(vocabulary: vocabulary, context: context, tokens: tokens))
    }

    func write(_ data: Data) throws {
      do { try handle.write(contentsOf: data) } catch {
        throw Failure.io(path: output.finalPath, reason: "write failed: \(error.localizedDescription)")
      }
    }

    /// Saves one scored position's distribution.
    public func add(logits: UnsafeBufferPointer<Float>) throws {
      let (low, step, codes) = KLDivergence.encode(KLDivergence.logSoftmax(logits))
      var d = Data(capacity: 8 + 2 * codes.count)
      withUnsafeBytes(of: low.bitPattern.littleEndian) { d.append(contentsOf: $0) }
      withUnsafeBytes(of: step.bitPattern.littleEndian) { d.append(contentsOf: $0) }
      codes.withUnsafeBufferPointer { c in
        for v in c { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
      }
      try write(d)
    }

    public func finish() throws {
      try handle.close()
      try output.commit()
    }
  }

  /// Reads a base file (Quanta's, or llama-perplexity's) and compares each scored position of this
  /// run with it.
  public final class Comparison {
    let path: String
    let handle: FileHandle
    let vocabulary: Int
    /// Bytes of one record, and where its scale, offset and codes sit.
    let record: (bytes: Int, low: Int, step: Int)
    /// A llama-perplexity base: its rows keep 16 nats below the top and store everything lower as
    /// code 0 (log p = −16 − log Σ). Read as llama-perplexity reads them: not renormalized, those
    /// entries left out of the KL sum (with a 262k vocabulary they hold ~3% of the mass, which
    /// renormalizing spread over every token: KLD 0.15 and PPL(base) +1.3% on Gemma 3).
    let llamaBase: Bool
    public private(set) var statistics = Statistics()

    public init(path: String, vocabulary: Int, context: Int, tokens: [Int32]) throws {
      self.path = path
      guard let h = FileHandle(forReadingAtPath: path) else {
        throw Failure.io(path: path, reason: "no such file or not readable")
      }
      handle = h
      self.vocabulary = vocabulary
      let magic = try Self.read(h, 8, path)
      llamaBase = Array(magic) == KLDivergence.llamaMagic
      if llamaBase {
        record = try Self.readLlamaHeader(
          h, path: path, vocabulary: vocabulary, context: context, tokens: tokens)
        return
      }
      record = (8 + 2 * vocabulary, 0, 4)
      let head = magic + (try Self.read(h, 12, path))
      guard Array(head.prefix(4)) == KLDivergence.magic else { throw Failure.notABaseFile(path: path) }
      let fields = (0..<4).map { i in
        head.subdata(in: 4 + 4 * i..<8 + 4 * i).withUnsafeBytes {
          UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self))
        }
      }
      guard fields[0] == KLDivergence.version else {
        throw Failure.unsupportedVersion(path: path, version: fields[0])
      }
      for (what, base, this) in [
        ("a vocabulary of", Int(fields[1]), vocabulary), ("-c", Int(fields[2]), context),
        ("a token count of", Int(fields[3]), tokens.count),
      ] where base != this {
        throw Failure.mismatch(path: path, what: what, base: base, this: this)
      }
      let saved = try Self.read(h, 4 * tokens.count, path)
      let different = saved.withUnsafeBytes { raw in
        (0..<tokens.count).first { i in
          Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) != tokens[i]
        }
      }
      if let i = different { throw Failure.differentTokens(path: path, index: i) }
    }

    /// llama-perplexity's header, checked against this run; returns its record layout (`scale`
    /// first, then `min_log_prob`).
    static func readLlamaHeader(_ h: FileHandle, path: String, vocabulary: Int, context: Int, tokens: [Int32])
      throws -> (bytes: Int, low: Int, step: Int)
    {
      let head = try read(h, 12, path)
      let fields = (0..<3).map { i in
        Int(
          head.subdata(in: 4 * i..<4 + 4 * i).withUnsafeBytes {
            Int32(littleEndian: $0.loadUnaligned(as: Int32.self))
          })
      }
      let (nCtx, nVocab, nChunk) = (fields[0], fields[1], fields[2])
      for (what, base, this) in [
        ("a vocabulary of", nVocab, vocabulary), ("-c", nCtx, context),
        ("a token count of", nCtx * nChunk, tokens.count),
      ] where base != this {
        throw Failure.mismatch(path: path, what: what, base: base, this: this)
      }
      let nv = 2 * ((nVocab + 1) / 2) + 4
      let perChunk = nCtx - 1 - nCtx / 2
      let expected = 20 + 4 * nCtx * nChunk + 2 * nv * perChunk * nChunk
      let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? expected
      guard size == expected else {
        throw Failure.llamaFileSize(path: path, expected: expected, actual: size)
      }
      let saved = try read(h, 4 * tokens.count, path)
      let different = saved.withUnsafeBytes { raw in
        (0..<tokens.count).first { i in
          Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) != tokens[i]
        }
      }
      if let i = different { throw Failure.differentTokens(path: path, index: i) }
      return (2 * nv, 4, 0)
    }

    static func read(_ h: FileHandle, _ count: Int, _ path: String) throws -> Data {
      let d: Data?
      do { d = try h.read(upToCount: count) } catch {
        throw Failure.io(path: path, reason: "read failed: \(error.localizedDescription)")
      }
      guard let d, d.count == count else { throw Failure.truncated(path: path) }
      return d
    }

    /// Compares one scored position: this run's logits, the token that followed.
    public func add(logits: UnsafeBufferPointer<Float>, next token: Int) throws {
      let bytes = try Self.read(handle, record.bytes, path)
      let mine = KLDivergence.logSoftmax(logits)
      let layout = record
      bytes.withUnsafeBytes { raw in
        func float(_ offset: Int) -> Double {
          Double(
            Float(
              bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))))
        }
        let low = float(layout.low)
        let step = float(layout.step)
        // The decoded log-probabilities; Quanta's renormalized (rounding to 16 bits moves their sum
        // off 1), llama-perplexity's as it reads them (`llamaBase`).
        var base = [Double](repeating: 0, count: vocabulary)
        var baseTop = 0, total = 0.0
        for i in 0..<vocabulary {
          let code = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 8 + 2 * i, as: UInt16.self))
          base[i] = low + step * Double(code)
          if !llamaBase { total += exp(base[i]) }  // only Quanta's records are renormalized
          if base[i] > base[baseTop] { baseTop = i }
        }
        let shift = llamaBase ? 0 : log(total)
        var kld = 0.0
        for i in 0..<vocabulary {
          let lb = base[i] - shift
          // llama-perplexity's cut: its clamped entries all sit at or below −16.
          if llamaBase && lb <= -16 { continue }
          kld += exp(lb) * (lb - mine[i])
        }
        let baseAtToken = base[token] - shift
        var myTop = 0
        for i in 1..<vocabulary where mine[i] > mine[myTop] { myTop = i }
        statistics.add(kld: kld, sameTop: baseTop == myTop, nllBase: -baseAtToken, nll: -mine[token])
      }
    }
  }

  /// Running sums of a comparison, reported as llama-perplexity does.
  public struct Statistics: Sendable {
    public private(set) var klds: [Double] = []
    public private(set) var sameTop = 0
    var nllBase = 0.0, nll = 0.0, lnRatio = 0.0, lnRatio2 = 0.0

    mutating func add(kld: Double, sameTop same: Bool, nllBase b: Double, nll q: Double) {
      klds.append(kld)
      if same { sameTop += 1 }
      nllBase += b
      nll += q
      lnRatio += q - b
      lnRatio2 += (q - b) * (q - b)
    }

    public var count: Int { klds.count }
    public var meanKLD: Double { klds.reduce(0, +) / Double(max(count, 1)) }
    public var sameTopFraction: Double { Double(sameTop) / Double(max(count, 1)) }
    public var perplexity: Double { exp(nll / Double(max(count, 1))) }
    public var basePerplexity: Double { exp(nllBase / Double(max(count, 1))) }

    /// The `q` quantile of the per-position KLDs (nearest rank).
    public func kldQuantile(_ q: Double) -> Double {
      guard count > 0 else { return .nan }
      let sorted = klds.sorted()
      return sorted[min(count - 1, max(0, Int((q * Double(count - 1)).rounded())))]
    }

    static func standardError(sum: Double, sum2: Double, count: Int) -> Double {
      guard count > 1 else { return .nan }
      let mean = sum / Double(count)
      return max(0, (sum2 / Double(count) - mean * mean) / Double(count - 1)).squareRoot()
    }

    /// llama-perplexity's closing report (the lines it prints under `--kl-divergence`).
    public var report: String {
      let n = count
      let kSum = klds.reduce(0, +), k2 = klds.reduce(0) { $0 + $1 * $1 }
      let p = sameTopFraction
      let pErr = n > 1 ? (p * (1 - p) / Double(n - 1)).squareRoot() : .nan
      var lines = [
        "====== Perplexity statistics ======",
        String(format: "Mean PPL(Q)                   : %10.6f", perplexity),
        String(format: "Mean PPL(base)                : %10.6f", basePerplexity),
        String(
          format: "Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f", lnRatio / Double(max(n, 1)),
          Self.standardError(sum: lnRatio, sum2: lnRatio2, count: n)),
        String(format: "Mean PPL(Q)/PPL(base)         : %10.6f", perplexity / basePerplexity),
        "",
        "====== KL divergence statistics ======",
        String(
          format: "Mean    KLD: %10.6f ± %10.6f", meanKLD, Self.standardError(sum: kSum, sum2: k2, count: n)),
        String(format: "Maximum KLD: %10.6f", kldQuantile(1)),
      ]
      for (name, q) in [("99.9%", 0.999), ("99.0%", 0.99), ("Median", 0.5), ("1.0%", 0.01), ("0.1%", 0.001)] {
        lines.append(
          name.padding(toLength: 7, withPad: " ", startingAt: 0)
            + String(format: " KLD: %10.6f", kldQuantile(q)))
      }
      lines.append(String(format: "Minimum KLD: %10.6f", kldQuantile(0)))
      lines += [
        "", "====== Token probability statistics ======",
        String(format: "Same top p: %6.3f ± %5.3f %%", 100 * p, 100 * pErr),
      ]
      return lines.joined(separator: "\n") + "\n"
    }
  }
}
