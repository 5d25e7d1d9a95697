import ArgumentParser

@main
struct Quanta: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "quanta",
    abstract: "Run and manipulate GGML-quantized GGUF models on CPUs and GPUs.",
    subcommands: [
      Run.self, Tokenize.self, PerplexityCommand.self, Inspect.self, Quantize.self, Bench.self, Devices.self,
      Kernels.self, Selftest.self, Synth.self,
    ]
  )
}
