import ArgumentParser

@main
struct Quanta: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "quanta",
    abstract: "Run and manipulate GGML-quantized GGUF models on CPUs and GPUs.",
    subcommands: [Inspect.self, Quantize.self, Bench.self]
  )
}
