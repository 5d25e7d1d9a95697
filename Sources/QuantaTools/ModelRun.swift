import Foundation
import QuantaLM

/// Prompt and decode time added up over a run (one completion, or every turn of a chat).
public struct RunTotals: Sendable, Equatable {
  public var promptTokens = 0
  public var promptSeconds = 0.0
  /// Decode steps: generated tokens after the first of each reply (which the prompt's logits give).
  public var evalTokens = 0
  public var evalSeconds = 0.0

  public init() {}

  public mutating func add(_ s: GenerationSummary) {
    promptTokens += s.promptTokens
    promptSeconds += s.promptSeconds
    evalTokens += max(s.generatedTokens - 1, 0)
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
    return summary
  }

  /// An interactive conversation in the model's chat format: each line from `readLine` is a user
  /// turn (`system`, if given, opens the conversation); each reply streams to `output`. `/exit`
  /// or the end of input ends it. `prompt` is shown before each read (on stderr in the CLI).
  public static func chat(
    model: LanguageModel, system: String?, options: GenerationOptions,
    readLine: () -> String?, output: (String) -> Void, prompt: (String) -> Void = { _ in }
  ) async throws -> RunTotals {
    guard model.chatTemplate != nil else {
      throw GenerationError.noChatTemplate(model.config.architecture.rawValue)
    }
    var messages: [ChatTemplate.Message] = []
    if let system, !system.isEmpty { messages.append(.init(.system, system)) }
    var totals = RunTotals()
    while true {
      prompt("> ")
      guard let line = readLine() else { break }
      let text = line.trimmingCharacters(in: .whitespacesAndNewlines)
      if text == "/exit" { break }
      if text.isEmpty { continue }
      messages.append(.init(.user, text))
      var reply = ""
      var summary: GenerationSummary?
      for try await event in try model.chat(messages, options: options) {
        switch event {
        case .text(let piece):
          reply += piece
          output(piece)
        case .finished(let s): summary = s
        }
      }
      output("\n")
      guard let summary else { throw GenerationError.endedWithoutSummary }
      totals.add(summary)
      messages.append(.init(.assistant, reply))
    }
    return totals
  }
}
