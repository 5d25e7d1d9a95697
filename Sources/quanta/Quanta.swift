import ArgumentParser
import Foundation
import QuantaTools

@main
struct Quanta: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "quanta",
    abstract: "Run and manipulate GGML-quantized GGUF models on CPUs and GPUs.",
    version: quantaVersion,
    subcommands: [
      Run.self, Tokenize.self, PerplexityCommand.self, Inspect.self, Quantize.self, Bench.self, Devices.self,
      Kernels.self, Selftest.self, Synth.self,
    ]
  )

  /// Single-dash words the commands declare; any other `-xy` is refused before parsing, since
  /// ArgumentParser reads it as `-x -y` (`-hf` would print help and exit 0).
  static let singleDashWords: Set<String> = ["-ngl", "-cnv", "-sys", "-fa"]

  static func main() async {
    let arguments = Array(CommandLine.arguments.dropFirst())
    if let word = CLIText.unsupportedSingleDash(arguments, known: singleDashWords) {
      FileHandle.standardError.write(
        Data("Error: unknown option '\(word)' (quanta does not support it)\n".utf8))
      Foundation.exit(64)  // EX_USAGE, as ArgumentParser's own usage errors
    }
    await main(arguments)
  }
}

/// `quanta --version`.
let quantaVersion = "0.16.0"
