import ArgumentParser
import Foundation
import QuantaTools

/// `quanta tokenize`: llama-tokenize's output (`ID -> 'piece'` lines, or `--ids` as a list) and
/// defaults (control tokens parsed, escapes processed).
struct Tokenize: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Show how a model's tokenizer splits a text (llama-tokenize's output).")

  @Option(name: [.customShort("m"), .long], help: "Model file (GGUF). Default: the default model.")
  var model: String?

  @Option(name: [.customShort("p"), .long], help: "Text to tokenize.")
  var prompt: String

  @Flag(help: "Print only the ids, as a list: [2, 9259, ...].")
  var ids = false

  @Flag(name: .customLong("no-bos"), help: "Do not add BOS (or EOS) even when the model asks for it.")
  var noBOS = false

  @Flag(
    name: .customLong("parse-special"),
    help: "Read control tokens written in the text (<start_of_turn>) as one id (the default).")
  var parseSpecial = false

  @Flag(name: .customLong("no-parse-special"), help: "Tokenize control tokens' text as plain text.")
  var noParseSpecial = false

  @Flag(
    name: .customLong("no-escape"), help: "Take the text literally (default: process \\n, \\t, \\xHH, …).")
  var noEscape = false

  @Flag(name: .customLong("show-count"), help: "Print the number of tokens at the end.")
  var showCount = false

  func run() async throws {
    var settings = CLIEnvironment.modelSettings()
    settings.modelPath = model
    let path = try await settings.resolveModelPath()
    let (tokenizer, tokens) = try TokenizeReport.tokenize(
      modelPath: path, text: noEscape ? prompt : CLIText.processEscapes(prompt), addSpecial: !noBOS,
      parseSpecial: !noParseSpecial)
    if ids {
      stdout(TokenizeReport.idList(tokens))
    } else {
      FileHandle.standardOutput.write(Data(TokenizeReport.pieceLines(tokens, tokenizer: tokenizer)))
    }
    if showCount { stdout("Total number of tokens: \(tokens.count)\n") }
  }
}
