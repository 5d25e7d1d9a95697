import ArgumentParser
import Foundation
import QuantaQuantize
import QuantaTools

/// `quanta quantize [--pure] IN OUT TYPE [THREADS]`, argument-compatible with llama-quantize.
struct Quantize: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Quantize a GGUF model with llama-quantize's per-tensor type rules.",
    discussion: """
      TYPE is a llama.cpp file type (case-insensitive): \(LlamaFileType.acceptedNames.joined(separator: ", ")), \
      or its number. Types whose codecs are not available yet are reported before anything is written.
      The output is written to .OUT.tmp-<pid> beside OUT, read back, and renamed onto OUT only on success.
      """)

  @Flag(help: "Put every quantizable tensor in TYPE's base type (no mix rules).")
  var pure = false

  @Flag(
    name: .customLong("allow-invalid"),
    help: "Quantize an input whose metadata fails the checks `run` makes (a warning instead of an error).")
  var allowInvalid = false

  @Argument(help: "Input model (F32/F16/BF16, or quantized: requantized through f32).")
  var input: String

  @Argument(help: "Output path (must not be the input).")
  var output: String

  @Argument(help: "Quantization type, e.g. Q4_K_M, Q8_0, F16.")
  var type: String

  @Argument(help: "Worker threads (default: all cores).")
  var threads: Int?

  func run() throws {
    let fileType = try QuantizeOptions.fileType(from: type)
    let options = QuantizeOptions(
      inputPath: input, outputPath: output, fileType: fileType, pure: pure, threads: threads,
      allowInvalid: allowInvalid)
    let progress = ProgressReporter()
    let summary: QuantizeSummary
    do {
      summary = try QuantizePipeline.run(options) { progress.handle($0) }
    } catch {
      progress.finish()
      throw error
    }
    progress.finish()
    print(summary.text)
  }
}
