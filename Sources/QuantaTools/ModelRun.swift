import Foundation
import QuantaLM

/// Prompt and decode time added up over a run (one completion, or every turn of a chat).
public struct RunTotals: Sendable, Equatable {
  /// Prompt tokens actually evaluated: in a chat, each turn's new tokens only (the earlier turns
  /// stay in the KV cache).
  public var promptTokens = 0
  public var promptSeconds = 0.0
  /// Decode steps actually run (single-token forward passes; the first token of each reply comes
  /// from the prompt's logits).
  public var evalTokens = 0
  public var evalSeconds = 0.0

  public init() {}

  public mutating func add(_ s: GenerationSummary) {
    promptTokens += s.promptTokens
    promptSeconds += s.promptSeconds
    evalTokens += s.decodeSteps
    evalSeconds += s.generationSeconds
  }

  public func lines(loadSeconds: Double) -> String {
    RunStats.lines(
      loadSeconds: loadSeconds, prompt: (promptTokens, promptSeconds), eval: (evalTokens, evalSeconds))
  }
}

/// `quanta run`'s two modes over a loaded model. Text goes to `output` as it is generated.
public enum ModelRun {
  /// Streams the continuation of `prompt`.
  public static func complete(
    model: LanguageModel, prompt: String, options: GenerationOptions, output: (String) -> Void
  ) async throws -> GenerationSummary {
    var summary: GenerationSummary?
    for try await event in model.generate(prompt: prompt, options: options) {
      switch event {
      case .text(let piece): output(piece)
      case .finished(let s): summary = s
      }
    }
    guard let summary else { throw GenerationError.endedWithoutSummary }
    // llama.cpp prints a reverse prompt that ends the generation.
    if case .stopString(let stop) = summary.stopReason { output(stop) }
    return summary
  }

  /// The one-line warning `--chat` gives when the model's file names no chat format it knows.
  public static func chatTemplateWarning(_ model: LanguageModel) -> String? {
    guard !model.chatTemplateFromFile, let t = model.chatTemplate else { return nil }
    let has = (try? model.file.metadata.optionalString("tokenizer.chat_template")) != nil
    let why =
      has
      ? "the model's tokenizer.chat_template is not one Quanta recognizes"
      : "the model has no tokenizer.chat_template"
    return
      "warning: \(why); using the \(t.rawValue) format, \(model.config.architecture.rawValue)'s usual one\n"
  }

  /// An interactive conversation in the model's chat format: each line from `readLine` is a user
  /// turn (`system`, if given, opens the conversation); each reply streams to `output`. `/exit`
  /// or the end of input ends it. `prompt` is shown before each read (on stderr in the CLI).
  ///
  /// The conversation keeps its KV cache between turns (`ChatSession`): a turn evaluates only its
  /// own tokens. A turn that does not fit the context is refused with a message on `prompt`
  /// (tokens needed, context size) and the conversation goes on unchanged, so a shorter message
  /// or `/exit` can follow; a reply cut by a full context is noted there too.
  public static func chat(
    model: LanguageModel, system: String?, options: GenerationOptions,
    readLine: () -> String?, output: (String) -> Void, prompt: (String) -> Void = { _ in }
  ) async throws -> RunTotals {
    if let warning = chatTemplateWarning(model) { prompt(warning) }
    let conversation = try ChatSession(model: model, system: system)
    var totals = RunTotals()
    while true {
      prompt("> ")
      guard let line = readLine() else { break }
      let text = line.trimmingCharacters(in: .whitespacesAndNewlines)
      if text == "/exit" { break }
      if text.isEmpty { continue }
      var summary: GenerationSummary?
      do {
        for try await event in conversation.send(text, options: options) {
          switch event {
          case .text(let piece): output(piece)
          case .finished(let s): summary = s
          }
        }
      } catch let error as GenerationError {
        guard case .contextOverflow = error else { throw error }
        prompt("error: \(error)\n")
        continue
      }
      output("\n")
      guard let summary else { throw GenerationError.endedWithoutSummary }
      totals.add(summary)
      if summary.stopReason == .contextFull {
        prompt("note: the context of \(conversation.contextLength) tokens is full (raise -c)\n")
      }
    }
    return totals
  }
}
