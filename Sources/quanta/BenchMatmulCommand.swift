import ArgumentParser
import Quanta
import QuantaBench

/// `quanta bench matmul`: mat-vec GB/s per type vs the streaming-read bandwidth of the same run,
/// and mat-mat GFLOP/s (the logic is `MatmulBenchmark` in QuantaBench).
struct BenchMatmul: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "matmul",
    abstract: "Quantized mat-vec / mat-mat speed per type, as a % of the measured memory bandwidth.")

  @Option(help: "Threads (CPU; default: every core).")
  var threads: Int?

  @Option(help: CommonHelp.device)
  var device: String = "cpu"

  @Option(help: "Comma-separated types (default: every type a QMatMul accepts).")
  var types: String?

  @Option(help: "Seconds per measurement.")
  var seconds: Double = 0.5

  @Option(help: "Rows of x for the mat-mat test.")
  var batch: Int = 512

  @Option(help: "Force a CPU instruction set (scalar, avx2, avx512, avx512_vnni, neon).")
  var isa: String?

  func run() async throws {
    if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    var selected = MatmulBenchmark.allTypes
    if let types {
      selected = try types.split(separator: ",").map { name in
        guard let t = GGMLType(name: String(name)) else { throw ValidationError("unknown type '\(name)'") }
        return t
      }
    }
    var instructionSet: CPUInstructionSet?
    if let isa {
      guard let set = CPUInstructionSet(rawValue: isa) else { throw ValidationError("unknown ISA '\(isa)'") }
      instructionSet = set
    }
    // The GPU configuration from the environment (library paths, QUANTA_SMALL_BATCH_MMQ).
    let registry = BackendRegistry.makeStandard(
      cpu: .init(threadCount: threads, instructionSet: instructionSet), gpu: CLIEnvironment.gpuConfiguration()
    )
    let opened = try registry.backend(for: Device(parsing: device))
    guard let backend = opened as? any MatmulBenchmarkBackend else {
      throw QuantaError.unsupported(op: "measureReferenceBandwidth", type: "bytes", device: opened.device)
    }
    var config = MatmulBenchmark.Configuration(types: selected)
    config.seconds = seconds
    config.batch = batch
    let bench = MatmulBenchmark(backend: backend, configuration: config)
    let reference = try bench.referenceBandwidth()
    let threadText = (backend as? CPUBackend).map { "\($0.threadCount) threads" } ?? "device"
    if let cpu = backend as? CPUBackend {
      let overhead = cpu.measureDispatchOverhead()
      print("thread pool dispatch: \(MatmulBenchmark.format(overhead * 1e6, 2)) µs per parallelFor")
    }
    print(MatmulBenchmark.header(referenceBytesPerSecond: reference, backend: backend, threads: threadText))
    _ = try bench.run(referenceBytesPerSecond: reference) { row in
      print(MatmulBenchmark.format(row))
    }
  }
}
