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

  /// The one-line warning `--chat` gives when it cannot use the model's own chat template (none
  /// in the file, or one outside the interpreter's subset) and a built-in format stands in.
  public static func chatTemplateWarning(_ model: LanguageModel) -> String? {
    guard !model.chatTemplateFromFile, let t = model.chatTemplate else { return nil }
    let why: String
    if let error = model.chatTemplateError {
      why = "the model's tokenizer.chat_template cannot be run (\(error))"
    } else {
      why =
        "the model has no tokenizer.chat_template (a base model, such as the default Gemma 3 270M, has none)"
    }
    return
      "warning: \(why); using the built-in \(t.rawValue) format, \(model.config.architecture.rawValue)'s usual one\n"
  }

  /// Reads a `--chat-template FILE`: a Jinja chat template that replaces the model's (its
  /// `bos_token`/`eos_token` are the model's).
  public static func chatTemplate(file path: String, for model: LanguageModel) throws -> ChatTemplate {
    let source: String
    do {
      source = try String(contentsOfFile: path, encoding: .utf8)
    } catch {
      throw ChatTemplateFileError(path: path, reason: "cannot be read: \(error.localizedDescription)")
    }
    do {
      let v = model.tokenizer.vocabulary
      return try ChatTemplate(
        jinja: source, bosToken: v.bos.map { v.tokens[Int($0)] } ?? "",
        eosToken: v.eos.map { v.tokens[Int($0)] } ?? "")
    } catch let e as JinjaError {
      throw ChatTemplateFileError(path: path, reason: "\(e)")
    }
  }

  /// An interactive conversation in the model's chat format: each line from `readLine` is a user
  /// turn (`system`, if given, opens the conversation); each reply streams to `output`. `/exit`
  /// or the end of input ends it. `prompt` is shown before each read (on stderr in the CLI).
  ///
  /// The conversation keeps its KV cache between turns (`ChatSession`): a turn evaluates only its
  /// own tokens. A turn that does not fit the context is refused with a message on `prompt`
  /// (tokens needed, context size) and the conversation goes on unchanged, so a shorter message
  /// or `/exit` can follow; a reply cut by a full context is noted there too.
  ///
  /// `template` (a `--chat-template` file) replaces the model's template; without it the model's
  /// own template runs, else a built-in format with a one-line warning.
  public static func chat(
    model: LanguageModel, system: String?, options: GenerationOptions, template: ChatTemplate? = nil,
    readLine: () -> String?, output: (String) -> Void, prompt: (String) -> Void = { _ in }
  ) async throws -> RunTotals {
    if template == nil, let warning = chatTemplateWarning(model) { prompt(warning) }
    let conversation = try ChatSession(model: model, system: system, template: template)
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
      } catch let error as JinjaError {
        // The template refused this conversation (its raise_exception): the turn is not taken.
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

/// A `--chat-template` file that cannot be read or parsed.
public struct ChatTemplateFileError: Error, Sendable, CustomStringConvertible {
  public var path: String
  public var reason: String
  public var description: String { "chat template \(path) \(reason)" }
}
