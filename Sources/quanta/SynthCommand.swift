import ArgumentParser
import QuantaQuantize
import QuantaSynth
import QuantaTools

/// `quanta synth --arch llama --preset 7b --type Q4_0 OUT.gguf`: a model with a real model's
/// shapes and random weights, for speed measurements without downloading weights.
struct Synth: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write a GGUF model with a real model's tensor shapes and random weights.",
    discussion: """
      The file carries every hyperparameter key llama.cpp's loader reads and a synthetic tokenizer \
      of the real size (SentencePiece or byte-level BPE with merges, special tokens at their real \
      ids), so any GGUF runtime loads it. Quantized weights are random blocks with scales chosen so \
      the weights have a standard deviation near 0.02; norms are 1 ± noise. The same seed writes \
      the same bytes. The file is written to .OUT.tmp-<pid> and renamed onto OUT on success.

      Presets:
      \(SynthPreset.helpTable)

      TYPE: a llama.cpp file type (mix rules as llama-quantize: \(LlamaFileType.acceptedNames.joined(separator: ", "))) \
      or, with --pure (or a name no mix has), a tensor type for every quantizable weight \
      (\(SynthTarget.supportedTypeNames)).
      """)

  @Option(help: ArgumentHelp("Architecture, which must be the preset's (\(SynthPreset.architectureNames))."))
  var arch: String = "llama"

  @Option(help: "Model shape (see the list below).")
  var preset: String

  @Option(help: "File type (mix) or tensor type, e.g. Q4_0, Q4_K_M, F16, iq4_nl.")
  var type: String = "Q4_0"

  @Option(help: "Experts per layer: the preset's mixture-of-experts shape (llama: Mixtral-style).")
  var experts: Int?

  @Flag(help: "Put every quantizable weight in TYPE's base type (no mix rules).")
  var pure = false

  @Option(help: "Seed of the random weights.")
  var seed: UInt64 = 0

  @Argument(help: "Output path.")
  var output: String

  func run() throws {
    let options = SynthOptions(
      preset: try SynthPreset.named(preset, architecture: arch, experts: experts),
      target: try SynthTarget(argument: type, pure: pure),
      pure: pure, seed: seed, outputPath: output)
    print(try SynthModel.write(options).text)
  }
}
