import ArgumentParser
import QuantaBench
import QuantaQuantize
import QuantaTools

/// `quanta bench …`: measurements. `bench quantize` times the reference codecs.
struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Measure performance.",
    subcommands: [BenchQuantize.self, BenchMatmul.self, BenchModel.self])
}

struct BenchQuantize: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "quantize",
    abstract: "Reference quantize/dequantize throughput per type (MB/s of f32 data).")

  @Option(help: "Values per call (rounded up to a multiple of 256).")
  var size = 1 << 20

  @Option(parsing: .upToNextOption, help: "Types to measure (default: every type with a codec).")
  var types: [String] = []

  @Option(help: "Minimum seconds per measurement.")
  var seconds = 0.25

  func run() throws {
    let selected = types.isEmpty ? nil : try QuantizeBench.parseTypes(types)
    let rows = try QuantizeBench.run(size: size, types: selected, minSeconds: seconds)
    if rows.isEmpty {
      print("no type has a reference codec yet")
      return
    }
    print(QuantizeBench.table(rows, size: (size + 255) / 256 * 256), terminator: "")
  }
}
