import CPUBackend
import GGML
import QuantaCore
import Testing

@testable import QuantaBench

/// `quanta bench matmul`'s logic on the CPU backend: the table's text (expected strings written by
/// hand) and a tiny run whose shapes, byte counts and kernel names are known in advance.
@Suite struct MatmulBenchmarkTests {
  @Test func numbersKeepTheirDigits() {
    #expect(MatmulBenchmark.format(1.5, 2) == "1.50")
    #expect(MatmulBenchmark.format(0.04, 1) == "0.0")
    #expect(MatmulBenchmark.format(396067.66, 1) == "396067.7")
    #expect(MatmulBenchmark.format(Double.infinity, 1) == "inf")
  }

  @Test func aRowPrintsAsTheTableLine() {
    var row = MatmulBenchmark.Row(
      type: .q4_K, kernel: "avx512_vnni·q8_K", matvecShape: [64512, 4096], weightBytes: 148_635_648,
      microsecondsPerCall: 396067.66, gigabytesPerSecond: 0.3753, percentOfReference: 8.14,
      matmatShape: [8, 4096, 4096], matmatGFLOPS: 3.07, error: nil)
    #expect(
      MatmulBenchmark.format(row)
        == "| q4_K    | avx512_vnni·q8_K     | 64512,4096    | 141.8  | 396067.7 | 0.38  | 8.1%     | [8,4096,4096]   | 3.1     |"
    )
    row.matmatGFLOPS = nil
    row.error = "mat-mat: out of memory"
    #expect(MatmulBenchmark.format(row).hasSuffix("| -       | mat-mat: out of memory"))
  }

  @Test func headerNamesTheReferenceAndTheColumns() throws {
    let cpu = try CPUBackend(configuration: .init(threadCount: 1))
    let lines = MatmulBenchmark.header(referenceBytesPerSecond: 4.614e9, backend: cpu, threads: "1 threads")
      .split(separator: "\n")
    #expect(lines.count == 4)
    #expect(lines[0].hasPrefix("device: cpu ") && lines[0].contains(", 1 threads, "))
    #expect(lines[1] == "reference read bandwidth: 4.61 GB/s")
    #expect(
      lines[2]
        == "| type    | kernel               | mat-vec [n,k] | MiB    | µs/call  | GB/s  | % of ref | mat-mat [m,k,n] | GFLOP/s |"
    )
  }

  /// q8_0 rows are 256 / 32 blocks of 34 bytes, q4_0 rows 8 blocks of 18.
  @Test func aTinyRunOnTheScalarKernels() throws {
    let cpu = try CPUBackend(configuration: .init(threadCount: 1, instructionSet: .scalar))
    var config = MatmulBenchmark.Configuration(types: [.q8_0, .q4_0])
    config.k = 256
    config.matvecRows = 16
    config.cacheMultiple = 0
    config.batch = 2
    config.matmatRows = 8
    config.seconds = 0
    let bench = MatmulBenchmark(backend: cpu, configuration: config)
    let rows = try bench.run(referenceBytesPerSecond: 1e9)
    #expect(rows.map(\.kernel) == ["scalar·q8_0", "scalar·q8_0"])
    #expect(rows.map(\.weightBytes) == [16 * 8 * 34, 16 * 8 * 18])
    for row in rows {
      #expect(row.error == nil, "\(row.type): \(row.error ?? "")")
      #expect(row.matvecShape == [16, 256] && row.matmatShape == [2, 256, 8])
      #expect(row.gigabytesPerSecond > 0 && row.matmatGFLOPS != nil)
      #expect(abs(row.percentOfReference - row.gigabytesPerSecond * 100) < 1e-6 * row.percentOfReference)
    }
  }

  @Test func theKernelColumnFollowsThePath() throws {
    let cpu = try CPUBackend(configuration: .init(threadCount: 1, instructionSet: .scalar))
    #expect(cpu.matmulKernelName(for: .q8_0, options: .init(path: .dequantize)) == "dequant·f32 scalar")
    #expect(cpu.matmulKernelName(for: .q4_K, options: .init()) == "scalar·q8_K")
  }

  @Test func aWidthThatIsNotWholeBlocksIsATypedError() throws {
    var config = MatmulBenchmark.Configuration(types: [.q4_K])
    config.k = 100
    let bench = MatmulBenchmark(
      backend: try CPUBackend(configuration: .init(threadCount: 1)), configuration: config)
    #expect(throws: QuantaError.notBlockMultiple(op: "bench matmul", type: .q4_K, count: 100)) {
      try bench.run(referenceBytesPerSecond: 1e9)
    }
  }
}
