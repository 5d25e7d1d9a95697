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
      Kernels.self, Selftest.self, Synth.self, Serve.self,
    ]
  )

  /// Single-dash words the commands declare; any other `-xy` is refused before parsing, since
  /// ArgumentParser reads it as `-x -y` (`-hf` would print help and exit 0).
  static let singleDashWords: Set<String> = ["-ngl", "-cnv", "-sys", "-fa", "-np", "-ctk", "-ctv"]

  static func main() async {
    // A model file truncated while mapped: a message naming it and exit 1, not a silent SIGBUS.
    FatalSignals.install()
    var arguments = Array(CommandLine.arguments.dropFirst())
    func usageError(_ message: String) -> Never {
      FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
      Foundation.exit(64)  // EX_USAGE, as ArgumentParser's own usage errors
    }
    if let word = CLIText.unsupportedSingleDash(arguments, known: singleDashWords) {
      usageError("unknown option '\(word)' (quanta does not support it)")
    }
    do {
      arguments = try CLIText.flashAttentionValues(arguments)
    } catch {
      usageError("\(error)")
    }
    await main(arguments)
  }
}

/// `quanta --version`.
let quantaVersion = "0.18.0"
