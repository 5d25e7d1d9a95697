import Foundation
import Synchronization

/// Settings of one generation.
public struct GenerationOptions: Sendable, Equatable {
  /// Most tokens to generate (llama.cpp's `-n`): −1 means no limit (with `contextShift`, until an
  /// end-of-generation token), −2 until the context is full.
  public var maxTokens: Int
  public var sampling: SamplingOptions
  /// Generation stops before any of these texts would be printed.
  public var stopStrings: [String]
  /// Add BOS/EOS as the vocabulary asks when tokenizing the prompt.
  public var addSpecial: Bool
  /// Parse control tokens written in the prompt (`<start_of_turn>`) as single ids.
  public var parseSpecial: Bool
  /// Never end at an end-of-generation token: they get a logit bias of −infinity (`--ignore-eos`).
  public var ignoreEndOfGeneration = false
  /// When the context is full, keep the first `keep` tokens, drop half of the rest and go on
  /// (llama.cpp's context shift); off: stop with `.contextFull`.
  public var contextShift = true
  /// Tokens of the prompt a context shift keeps (`--keep`; BOS is kept besides); −1: the whole prompt.
  public var keep = 0

  public init(
    maxTokens: Int = 128, sampling: SamplingOptions = .init(), stopStrings: [String] = [],
    addSpecial: Bool = true,
    parseSpecial: Bool = false
  ) {
    self.maxTokens = maxTokens
    self.sampling = sampling
    self.stopStrings = stopStrings
    self.addSpecial = addSpecial
    self.parseSpecial = parseSpecial
  }
}

/// Why a generation ended.
public enum StopReason: Sendable, Equatable {
  /// The model produced an end-of-generation token (EOS, EOT, end of turn).
  case endOfGeneration(Int32)
  /// The text reached one of the stop strings (not printed).
  case stopString(String)
  case maxTokens
  case contextFull
  case cancelled
}

/// Counts and timings of a finished generation, as llama.cpp prints them.
public struct GenerationSummary: Sendable, Equatable {
  /// Tokens of the prompt that were evaluated (a prefix already in the session's cache is not).
  public var promptTokens: Int
  public var generatedTokens: Int
  /// The generated ids, in order (an end-of-generation id is not included).
  public var tokenIDs: [Int32]
  /// Single-token forward passes run (decode steps): a generated token is evaluated only when
  /// another one is sampled after it, so this is `generatedTokens - 1`, or `generatedTokens` when
  /// an end-of-generation id was sampled after the last one.
  public var decodeSteps: Int
  public var promptSeconds: Double
  public var generationSeconds: Double
  public var stopReason: StopReason

  public init(
    promptTokens: Int, generatedTokens: Int, tokenIDs: [Int32], promptSeconds: Double,
    generationSeconds: Double,
    stopReason: StopReason, decodeSteps: Int? = nil
  ) {
    self.promptTokens = promptTokens
    self.generatedTokens = generatedTokens
    self.tokenIDs = tokenIDs
    self.decodeSteps = decodeSteps ?? max(generatedTokens - 1, 0)
    self.promptSeconds = promptSeconds
    self.generationSeconds = generationSeconds
    self.stopReason = stopReason
  }

  public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(promptTokens) / promptSeconds : 0 }
  /// Decode speed: single-token forward passes per second (the first generated token comes from
  /// the prompt's logits).
  public var generationTokensPerSecond: Double {
    generationSeconds > 0 ? Double(decodeSteps) / generationSeconds : 0
  }
}

/// What a generation stream yields: text pieces as they are decoded (never a broken UTF-8
/// character, never part of a stop string), then one summary.
public enum GenerationEvent: Sendable, Equatable {
  case text(String)
  case finished(GenerationSummary)
}

/// Holds back text that might be the start of a stop string until the next piece decides it.
public struct StopStringFilter: Sendable {
  public let stops: [String]
  private var held = ""

  public init(_ stops: [String]) { self.stops = stops.filter { !$0.isEmpty } }

  /// The text that can be printed now, and the stop string when one completed.
  ///
  /// - Parameter piece: The next decoded text.
  /// - Returns: The text now safe to print, and the stop string reached, if any (then `text` ends
  ///   before it).
  public mutating func push(_ piece: String) -> (text: String, stop: String?) {
    guard !stops.isEmpty else { return (piece, nil) }
    held += piece
    var first: (range: Range<String.Index>, stop: String)?
    for s in stops {
      if let r = held.range(of: s), first == nil || r.lowerBound < first!.range.lowerBound { first = (r, s) }
    }
    if let first {
      let text = String(held[..<first.range.lowerBound])
      held = ""
      return (text, first.stop)
    }
    // Keep the longest tail that is a prefix of some stop string.
    var keep = 0
    for s in stops {
      for n in stride(from: min(s.count - 1, held.count), to: 0, by: -1) where held.hasSuffix(s.prefix(n)) {
        keep = max(keep, n)
        break
      }
    }
    let cut = held.index(held.endIndex, offsetBy: -keep)
    let text = String(held[..<cut])
    held = String(held[cut...])
    return (text, nil)
  }

  /// Whatever is held at the end.
  public mutating func flush() -> String {
    defer { held = "" }
    return held
  }
}

extension Session {
  /// Generates from `prompt` (token ids) after what the cache holds: a cached prefix of the prompt
  /// is reused, the rest goes through as one batch, then tokens are sampled one at a time until an
  /// end-of-generation token, a stop string, `maxTokens`, a full context (after which
  /// `contextShift` drops half of the tokens after `keep` and goes on) or `isCancelled()`.
  /// `onText` gets each printable piece.
  ///
  /// - Parameters:
  ///   - prompt: Token ids (at least one).
  ///   - options: Limits, sampling and stop strings.
  ///   - isCancelled: Polled between tokens; true ends the generation with `.cancelled`.
  ///   - onText: Gets each printable piece (never part of a stop string).
  /// - Returns: Counts, timings and why the generation stopped.
  /// - Throws: `ModelError.emptyInput`, what `Session.evaluate` throws, or what `onText` throws.
  public func generate(
    promptTokens prompt: [Int32], options: GenerationOptions, isCancelled: () -> Bool = { false },
    onText: (String) throws -> Void
  ) throws -> GenerationSummary {
    guard !prompt.isEmpty else { throw ModelError.emptyInput }
    // Reuse the longest common prefix; at least the last prompt token is evaluated (its logits).
    var common = 0
    while common < min(tokens.count, prompt.count - 1), tokens[common] == prompt[common] { common += 1 }
    truncate(to: common)
    let clock = ContinuousClock()
    let promptStart = clock.now
    let suffix = Array(prompt[common...])
    var summary = GenerationSummary(
      promptTokens: suffix.count, generatedTokens: 0, tokenIDs: [], promptSeconds: 0, generationSeconds: 0,
      stopReason: .maxTokens, decodeSteps: 0)
    // The cache holds `common` tokens now; with the suffix that is the whole prompt.
    if prompt.count > contextLength {
      throw GenerationError.contextOverflow(needed: prompt.count, contextLength: contextLength)
    }
    try evaluate(tokens: suffix)
    summary.promptSeconds = (clock.now - promptStart).seconds
    let genStart = clock.now

    var sampling = options.sampling
    if options.ignoreEndOfGeneration {
      for t in model.endOfGenerationTokens { sampling.logitBias[t] = -.infinity }
    }
    let breakers =
      sampling.dryActive ? model.tokenizer.tokens(containing: sampling.drySequenceBreakers) : []
    var sampler = Sampler(sampling, contextLength: contextLength, sequenceBreakers: breakers)
    // llama.cpp keeps BOS besides `--keep` tokens; −1 or more than the prompt keeps the prompt.
    let keep =
      options.keep < 0 || options.keep > prompt.count
      ? prompt.count : options.keep + (prompt.first == model.tokenizer.vocabulary.bos ? 1 : 0)
    let shifts = options.contextShift && options.maxTokens != -2
    for t in prompt { sampler.accept(t) }
    var decoder = StreamingDecoder(model.tokenizer)
    var filter = StopStringFilter(options.stopStrings)
    let limit = options.maxTokens < 0 ? Int.max : options.maxTokens
    var reason = StopReason.maxTokens
    // Greedy decoding takes the argmax on the device: only the next id comes back from a step.
    let greedy = sampling.isGreedy
    // Other chains the device holds sample there too (GPU sessions): again only the id comes back.
    let sampleWhereModelRuns =
      transformer.backend.samplesOnDevice
      && sampler.runsOnDevice(vocabularySize: transformer.config.vocabularySize)
    var nextFromDevice: Int32?
    generation: while summary.generatedTokens < limit {
      if isCancelled() {
        reason = .cancelled
        break
      }
      let id = nextFromDevice ?? withLastLogits { sampler.sample($0) }
      // A grammar that allows no token ends the generation (the sampler gave an end id).
      if model.endOfGenerationTokens.contains(id) && (!options.ignoreEndOfGeneration || sampler.grammarFailed)
      {
        reason = .endOfGeneration(id)
        break
      }
      sampler.accept(id)
      summary.generatedTokens += 1
      summary.tokenIDs.append(id)
      let (text, stop) = filter.push(decoder.append(id))
      if !text.isEmpty { try onText(text) }
      if let stop {
        reason = .stopString(stop)
        break generation
      }
      if summary.generatedTokens >= limit { break }
      if position >= contextLength {
        guard shifts, try shiftContext(keep: keep) else {
          reason = .contextFull
          break
        }
      }
      if greedy {
        nextFromDevice = try evaluateGreedy(token: id)
      } else if sampleWhereModelRuns {
        nextFromDevice = try evaluateSampled(token: id, sampler: &sampler)
      } else {
        try evaluate(token: id)
      }
      summary.decodeSteps += 1
    }
    if case .stopString = reason {
    } else {
      let rest = filter.push(decoder.flush()).text + filter.flush()
      if !rest.isEmpty { try onText(rest) }
    }
    summary.stopReason = reason
    summary.generationSeconds = (clock.now - genStart).seconds
    return summary
  }
}

extension Duration {
  var seconds: Double {
    let c = components
    return Double(c.seconds) + Double(c.attoseconds) * 1e-18
  }
}

/// Set from the stream's termination handler, read by the generating thread.
private final class CancelFlag: Sendable {
  private let flag = Atomic<Bool>(false)
  func cancel() { flag.store(true, ordering: .relaxed) }
  var isCancelled: Bool { flag.load(ordering: .relaxed) }
}

/// Streams what `work` generates on its own thread (forward passes block): `.text` pieces, then
/// `.finished` with the summary it returns, or the error it throws. Ending the iteration early
/// makes `isCancelled` true, which `work` polls between tokens.
func generationStream(
  _ work:
    @escaping @Sendable (_ isCancelled: () -> Bool, _ onText: (String) -> Void) throws
    -> GenerationSummary
) -> AsyncThrowingStream<GenerationEvent, any Error> {
  AsyncThrowingStream { continuation in
    let cancel = CancelFlag()
    continuation.onTermination = { _ in cancel.cancel() }
    let thread = Thread {
      do {
        let summary = try work({ cancel.isCancelled }, { continuation.yield(.text($0)) })
        continuation.yield(.finished(summary))
        continuation.finish()
      } catch {
        continuation.finish(throwing: error)
      }
    }
    // Forward passes of big models recurse through deep closures; give them room.
    thread.stackSize = 8 << 20
    thread.start()
  }
}

extension LanguageModel {
  /// Streams the continuation of `prompt`: `.text` pieces as they are generated, then
  /// `.finished` with counts and timings. Runs in a fresh session on its own thread (the forward
  /// passes block); ending the iteration early cancels it.
  ///
  /// - Parameters:
  ///   - prompt: The text to continue (tokenized with `options.addSpecial` / `parseSpecial`).
  ///   - options: Limits, sampling and stop strings.
  /// - Returns: A stream of `.text` pieces and one `.finished`; it ends with the error when the
  ///   generation throws.
  public func generate(prompt: String, options: GenerationOptions = .init()) -> AsyncThrowingStream<
    GenerationEvent, any Error
  > {
    let ids = tokenizer.encode(prompt, addSpecial: options.addSpecial, parseSpecial: options.parseSpecial)
    return generate(promptTokens: ids, options: options)
  }

  /// Streams a chat reply to `messages`, in the model's chat format (`chatTemplate`). The whole
  /// conversation is evaluated in a fresh session; for a conversation of many turns use
  /// `ChatSession`, which keeps its KV cache between turns.
  ///
  /// - Parameters:
  ///   - messages: The conversation so far; the reply is the next assistant turn.
  ///   - options: Limits, sampling and stop strings (the format's end-of-turn text is added).
  /// - Returns: A stream of `.text` pieces and one `.finished`.
  /// - Throws: `GenerationError.noChatTemplate` when the model has no chat format, or the template's
  ///   `JinjaError` when it cannot render `messages`.
  public func chat(_ messages: [ChatTemplate.Message], options: GenerationOptions = .init()) throws
    -> AsyncThrowingStream<GenerationEvent, any Error>
  {
    guard let template = chatTemplate else {
      throw GenerationError.noChatTemplate(config.architecture.rawValue)
    }
    var o = options
    o.parseSpecial = true
    if !template.endOfTurn.isEmpty && !o.stopStrings.contains(template.endOfTurn) {
      o.stopStrings.append(template.endOfTurn)
    }
    let text = try template.apply(messages, addGenerationPrompt: true)
    return generate(
      promptTokens: chatPromptTokens(text, template: template, addSpecial: o.addSpecial), options: o)
  }

  /// The tokens of a prompt rendered by `template` (control tokens parsed). When the tokenizer
  /// adds BOS (EOS) itself, a `bos_token` text the template wrote at the start (an `eos_token` at
  /// the end) is dropped first, as llama.cpp's chat does, so it is not doubled.
  ///
  /// - Parameters:
  ///   - text: The prompt as `template` rendered it.
  ///   - template: The template that rendered it (for its BOS/EOS texts).
  ///   - addSpecial: Whether the tokenizer adds BOS/EOS as the vocabulary asks.
  /// - Returns: The prompt's token ids.
  public func chatPromptTokens(_ text: String, template: ChatTemplate, addSpecial: Bool) -> [Int32] {
    var t = Substring(text)
    let v = tokenizer.vocabulary
    if addSpecial && v.addBOS && !template.bosToken.isEmpty && t.hasPrefix(template.bosToken) {
      t = t.dropFirst(template.bosToken.count)
    }
    if addSpecial && v.addEOS && !template.eosToken.isEmpty && t.hasSuffix(template.eosToken) {
      t = t.dropLast(template.eosToken.count)
    }
    return tokenizer.encode(String(t), addSpecial: addSpecial, parseSpecial: true)
  }

  /// Streams the continuation of already tokenized `promptTokens`.
  ///
  /// - Parameters:
  ///   - promptTokens: Token ids (at least one).
  ///   - options: Limits, sampling and stop strings.
  /// - Returns: A stream of `.text` pieces and one `.finished`.
  public func generate(promptTokens: [Int32], options: GenerationOptions = .init()) -> AsyncThrowingStream<
    GenerationEvent, any Error
  > {
    generationStream { [self] isCancelled, onText in
      try makeSession().generate(
        promptTokens: promptTokens, options: options, isCancelled: isCancelled, onText: onText)
    }
  }

  /// The whole continuation of `prompt` as one string, with its summary.
  ///
  /// - Parameters:
  ///   - prompt: The text to continue.
  ///   - options: Limits, sampling and stop strings.
  /// - Returns: The generated text and the summary.
  /// - Throws: What the generation throws, or `GenerationError.endedWithoutSummary`.
  public func complete(prompt: String, options: GenerationOptions = .init()) async throws -> (
    text: String, summary: GenerationSummary
  ) {
    var text = ""
    var summary: GenerationSummary?
    for try await event in generate(prompt: prompt, options: options) {
      switch event {
      case .text(let t): text += t
      case .finished(let s): summary = s
      }
    }
    guard let summary else { throw GenerationError.endedWithoutSummary }
    return (text, summary)
  }
}

public enum GenerationError: Error, Sendable, Equatable, CustomStringConvertible {
  case noChatTemplate(String)
  case endedWithoutSummary
  /// The prompt (for a chat: the whole conversation so far plus the new turn) needs `needed`
  /// positions of a cache of `contextLength`.
  case contextOverflow(needed: Int, contextLength: Int)
  /// A `ChatSession` was asked for a turn while another was still being generated.
  case turnInProgress

  public var description: String {
    switch self {
    case .noChatTemplate(let a):
      return "the model has no recognized chat template and architecture \(a) has no usual chat format"
    case .endedWithoutSummary: return "the generation stream ended without its summary"
    case .contextOverflow(let needed, let limit):
      return "the prompt needs \(needed) tokens but the context holds \(limit) (raise -c / contextLength)"
    case .turnInProgress: return "the conversation is still generating the previous reply"
    }
  }
}
