import Foundation
import GGML
import GGUF
import Testing

@testable import QuantaQuantize
@testable import QuantaTools

/// Collects events from any thread.
final class EventLog: @unchecked Sendable {
  // @unchecked: `events` is only touched under `lock`.
  private let lock = NSLock()
  private var events: [QuantizeEvent] = []

  func record(_ e: QuantizeEvent) {
    lock.lock()
    events.append(e)
    lock.unlock()
  }

  var warnings: [String] {
    lock.lock()
    defer { lock.unlock() }
    return events.compactMap { if case .warning(let w) = $0 { w } else { nil } }
  }

  var advancedBytes: Int {
    lock.lock()
    defer { lock.unlock() }
    return events.reduce(0) { if case .advanced(let n) = $1 { $0 + n } else { $0 } }
  }
}

@Suite("quantize pipeline")
struct QuantizePipelineTests {
  @Test("Q4_K_M end to end: readable output, planned types, values close, metadata kept", arguments: [1, 3])
  func q4KM(threads: Int) throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let model = SmallModel()
    let input = dir.file("in.gguf")
    let output = dir.file("out.gguf")
    try model.write(to: input)
    let before = try Data(contentsOf: URL(fileURLWithPath: input))

    let log = EventLog()
    let summary = try QuantizePipeline.run(
      QuantizeOptions(inputPath: input, outputPath: output, fileType: .q4_K_M, threads: threads),
      report: { log.record($0) })

    let out = try GGUFFile(path: output)
    // 2 layers, use_more_bits(i, 2) = i < 0 || i >= 1 || i % 3 == 2: false for layer 0, true for 1.
    let expected: [String: GGMLType] = [
      "token_embd.weight": .q4_K, "output.weight": .q6_K, "output_norm.weight": .f32,
      "blk.0.attn_norm.weight": .f32, "blk.1.attn_norm.weight": .f32,
      "blk.0.attn_q.weight": .q4_K, "blk.1.attn_q.weight": .q4_K,
      "blk.0.attn_v.weight": .q4_K, "blk.1.attn_v.weight": .q6_K,
      "blk.0.ffn_down.weight": .q4_K, "blk.1.ffn_down.weight": .q6_K,
    ]
    #expect(out.tensors.count == model.tensors.count)
    for t in out.tensors {
      #expect(t.type == expected[t.name], "\(t.name)")
      #expect(t.shape == model.tensors.first { $0.name == t.name }?.shape)
    }
    // Values: ggml's round-trip quality for these types on uniform noise.
    let limits: [GGMLType: Double] = [.f32: 0, .q4_K: 0.12, .q6_K: 0.03]
    for t in out.tensors {
      let got = try dequantized(out, t.name)
      let want = try #require(model.values(t.name))
      let err = relativeError(got, want)
      #expect(err <= limits[t.type]!, "\(t.name) \(t.type): relative error \(err)")
    }
    // Metadata: the input's, in order, with file type and quantization version set.
    #expect(try out.metadata.uint32("general.file_type") == 15)
    #expect(try out.metadata.uint32("general.quantization_version") == 2)
    #expect(out.metadata["general.name"] == model.metadata.first { $0.0 == "general.name" }?.1)
    #expect(try out.metadata.stringArray("tokenizer.ggml.tokens").count == 32)
    #expect(Array(out.metadata.keys.prefix(model.metadata.count)) == model.metadata.map(\.0))
    #expect(out.alignment == 32)

    // Input untouched, no temporary left, progress covered every source byte.
    #expect(try Data(contentsOf: URL(fileURLWithPath: input)) == before)
    #expect(try dir.contents() == ["in.gguf", "out.gguf"])
    #expect(log.advancedBytes == summary.sourceTensorBytes)
    #expect(summary.targetTensorBytes < summary.sourceTensorBytes)
    #expect(summary.text.contains("quant size"))
  }

  @Test("Q8_0 and F16: every 2-D weight converted, 1-D F32 kept")
  func q8AndF16() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let model = SmallModel()
    let input = dir.file("in.gguf")
    try model.write(to: input)
    for (mix, type, limit) in [(LlamaFileType.q8_0, GGMLType.q8_0, 0.01), (.mostlyF16, .f16, 0.001)] {
      let output = dir.file("out-\(mix.name).gguf")
      _ = try QuantizePipeline.run(
        QuantizeOptions(inputPath: input, outputPath: output, fileType: mix, threads: 2))
      let out = try GGUFFile(path: output)
      for t in out.tensors {
        #expect(t.type == (t.shape.count == 1 ? .f32 : type), "\(mix) \(t.name)")
        let err = relativeError(try dequantized(out, t.name), try #require(model.values(t.name)))
        #expect(err <= limit, "\(mix) \(t.name): \(err)")
      }
      #expect(try out.metadata.uint32("general.file_type") == mix.rawValue)
    }
  }

  @Test("--pure puts every 2-D weight, output included, in the base type")
  func pure() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let input = dir.file("in.gguf")
    try SmallModel().write(to: input)
    let output = dir.file("out.gguf")
    _ = try QuantizePipeline.run(
      QuantizeOptions(inputPath: input, outputPath: output, fileType: .q4_K_M, pure: true, threads: 2))
    for t in try GGUFFile(path: output).tensors {
      #expect(t.type == (t.shape.count == 1 ? .f32 : .q4_K), "\(t.name)")
    }
  }

  @Test("Already quantized input is requantized through f32, with a warning")
  func requantize() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let model = SmallModel()
    let input = dir.file("in.gguf")
    try model.write(to: input)
    let q8 = dir.file("q8.gguf")
    _ = try QuantizePipeline.run(
      QuantizeOptions(inputPath: input, outputPath: q8, fileType: .q8_0, threads: 1))
    let log = EventLog()
    let q4 = dir.file("q4.gguf")
    let summary = try QuantizePipeline.run(
      QuantizeOptions(inputPath: q8, outputPath: q4, fileType: .q4_0, threads: 2), report: { log.record($0) })
    #expect(summary.warnings.contains { $0.contains("requantizing blk.0.attn_q.weight from q8_0 to q4_0") })
    #expect(log.warnings == summary.warnings)
    let out = try GGUFFile(path: q4)
    #expect(out.tensor(named: "blk.0.attn_q.weight")?.type == .q4_0)
    #expect(out.tensor(named: "output.weight")?.type == .q6_K)
    let err = relativeError(
      try dequantized(out, "blk.0.attn_q.weight"), try #require(model.values("blk.0.attn_q.weight")))
    #expect(err <= 0.15)
  }

  @Test("Unknown TYPE is a typed error naming the accepted types")
  func unknownType() {
    #expect(throws: QuantaToolError.unknownQuantizationType("Q9_Z")) {
      try QuantizeOptions.fileType(from: "Q9_Z")
    }
    #expect(QuantaToolError.unknownQuantizationType("Q9_Z").description.contains("Q4_K_M"))
  }

  @Test("OUT == IN (same path, another spelling, a symlink) is refused; input untouched")
  func outputIsInput() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let input = dir.file("in.gguf")
    try SmallModel().write(to: input)
    let before = try Data(contentsOf: URL(fileURLWithPath: input))
    try FileManager.default.createSymbolicLink(atPath: dir.file("link.gguf"), withDestinationPath: input)
    for out in [input, dir.path + "/./in.gguf", dir.file("link.gguf")] {
      #expect(throws: QuantaToolError.outputIsInput(out)) {
        try QuantizePipeline.run(
          QuantizeOptions(inputPath: input, outputPath: out, fileType: .q8_0, threads: 1))
      }
    }
    #expect(try Data(contentsOf: URL(fileURLWithPath: input)) == before)
    #expect(try dir.contents() == ["in.gguf", "link.gguf"])
  }

  @Test("Unwritable target (missing folder, folder is a file): error, nothing left behind")
  func unwritableTarget() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let input = dir.file("in.gguf")
    try SmallModel().write(to: input)
    try Data("x".utf8).write(to: URL(fileURLWithPath: dir.file("plain")))
    for out in [dir.file("missing/out.gguf"), dir.file("plain/out.gguf")] {
      #expect(throws: (any Error).self) {
        try QuantizePipeline.run(
          QuantizeOptions(inputPath: input, outputPath: out, fileType: .q8_0, threads: 1))
      }
    }
    #expect(try dir.contents() == ["in.gguf", "plain"])
  }

  @Test("A tensor type with no codec is a typed error before any output")
  func noCodec() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let input = dir.file("in.gguf")
    var writer = GGUFWriter()
    writer.addTensor(
      name: "blk.0.attn_q.weight", type: .i32, shape: [256, 2], bytes: [UInt8](repeating: 0, count: 2048))
    try writer.write(to: input)
    #expect(GGMLType.i32.dequantizer == nil, "this test needs a type without a dequantizer")
    #expect(throws: QuantaToolError.noDequantizer(type: .i32, tensor: "blk.0.attn_q.weight")) {
      try QuantizePipeline.run(
        QuantizeOptions(inputPath: input, outputPath: dir.file("out.gguf"), fileType: .q8_0, threads: 1))
    }
    #expect(try dir.contents() == ["in.gguf"])
  }

  @Test("An input that run would refuse: a typed error and nothing written; --allow-invalid warns")
  func invalidModel() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    var model = SmallModel()
    model.metadata.append(("tokenizer.ggml.unknown_token_id", .uint32(32)))
    let input = dir.file("in.gguf")
    try model.write(to: input)
    let expected = GGUFError.inconsistentMetadata(
      key: "tokenizer.ggml.unknown_token_id", reason: "token id 32 ≥ vocabulary size 32")
    #expect(throws: QuantaToolError.invalidModel(path: input, error: expected)) {
      try QuantizePipeline.run(
        QuantizeOptions(inputPath: input, outputPath: dir.file("out.gguf"), fileType: .q8_0, threads: 1))
    }
    #expect(try dir.contents() == ["in.gguf"])
    #expect(
      QuantaToolError.invalidModel(path: input, error: expected).description.contains("--allow-invalid"))

    let log = EventLog()
    let summary = try QuantizePipeline.run(
      QuantizeOptions(
        inputPath: input, outputPath: dir.file("out.gguf"), fileType: .q8_0, threads: 1, allowInvalid: true),
      report: { log.record($0) })
    let warning = "\(input) is not a valid model (\(expected)); quantizing it anyway (--allow-invalid)"
    #expect(log.warnings.contains(warning))
    #expect(summary.warnings.contains(warning))
    #expect(try dir.contents() == ["in.gguf", "out.gguf"])
  }

  @Test("Unreadable input: the reader's typed error, nothing written")
  func badInput() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    try Data("not a gguf file at all".utf8).write(to: URL(fileURLWithPath: dir.file("bad.gguf")))
    #expect(throws: GGUFError.self) {
      try QuantizePipeline.run(
        QuantizeOptions(inputPath: dir.file("bad.gguf"), outputPath: dir.file("out.gguf"), fileType: .q8_0))
    }
    #expect(throws: GGUFError.self) {
      try QuantizePipeline.run(
        QuantizeOptions(inputPath: dir.file("absent.gguf"), outputPath: dir.file("out.gguf"), fileType: .q8_0)
      )
    }
    #expect(throws: QuantaToolError.invalidThreadCount(0)) {
      try QuantizePipeline.run(
        QuantizeOptions(
          inputPath: dir.file("bad.gguf"), outputPath: dir.file("out.gguf"), fileType: .q8_0, threads: 0))
    }
    #expect(try dir.contents() == ["bad.gguf"])
  }

  @Test("Converter: rows split over threads give the same bytes as one thread")
  func threadsAgree() throws {
    let rows = 37
    let values = pseudoRandom(rows * 256, seed: 9)
    var results: [[UInt8]] = []
    for threads in [1, 2, 5, 64] {
      var out = [UInt8](repeating: 0, count: GGMLType.q4_K.byteCount(forElements: values.count)!)
      try values.withUnsafeBytes { src in
        try out.withUnsafeMutableBytes { dst in
          try TensorConverter.convert(
            tensor: "t", src: src, srcType: .f32, dst: dst, dstType: .q4_K, rowLength: 256, rows: rows,
            threads: threads)
        }
      }
      results.append(out)
    }
    #expect(results.allSatisfy { $0 == results[0] })
    #expect(results[0] == (try GGMLType.q4_K.quantize(values)))
  }

  @Test("Progress lines name each tensor and its conversion")
  func progressLines() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let input = dir.file("in.gguf")
    try SmallModel().write(to: input)
    let text = TextSink()
    let reporter = ProgressReporter(style: .lines, write: { text.append($0) })
    _ = try QuantizePipeline.run(
      QuantizeOptions(inputPath: input, outputPath: dir.file("out.gguf"), fileType: .q8_0, threads: 1),
      report: { reporter.handle($0) })
    let lines = text.value.split(separator: "\n")
    #expect(lines.first?.hasPrefix("[ 1/11] output.weight") == true)
    #expect(lines.contains { $0.contains("] token_embd.weight") && $0.contains("converting to q8_0") })
    #expect(lines.contains { $0.contains("blk.0.attn_norm.weight") && $0.contains("type = f32 ..") })
  }
}

final class TextSink: @unchecked Sendable {
  // @unchecked: `text` is only touched under `lock`.
  private let lock = NSLock()
  private var text = ""
  func append(_ s: String) {
    lock.lock()
    text += s
    lock.unlock()
  }
  var value: String {
    lock.lock()
    defer { lock.unlock() }
    return text
  }
}
