import Foundation
import GGUF
import QuantaFiles

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// What `quanta quantize` was asked to do.
public struct QuantizeOptions: Sendable {
  public var inputPath: String
  public var outputPath: String
  public var fileType: LlamaFileType
  public var pure: Bool
  public var threads: Int
  /// Quantizes an input that fails the model checks `run` applies, with a warning, instead of
  /// refusing it (`--allow-invalid`).
  public var allowInvalid: Bool

  public init(
    inputPath: String, outputPath: String, fileType: LlamaFileType, pure: Bool = false, threads: Int? = nil,
    allowInvalid: Bool = false
  ) {
    self.inputPath = inputPath
    self.outputPath = outputPath
    self.fileType = fileType
    self.pure = pure
    self.threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
    self.allowInvalid = allowInvalid
  }

  /// Parses the CLI's positional TYPE (case-insensitive mix name, alias or llama.cpp number).
  public static func fileType(from argument: String) throws -> LlamaFileType {
    if let t = LlamaFileType(argument: argument) { return t }
    throw QuantaToolError.unknownQuantizationType(argument)
  }
}

/// Progress of a quantization, reported from any thread.
public enum QuantizeEvent: Sendable {
  case planned(QuantizationPlan, totalSourceBytes: Int)
  case warning(String)
  case tensorStarted(index: Int, count: Int, tensor: PlannedTensor, sourceBytes: Int, targetBytes: Int)
  /// `bytes` source bytes more are done (copied or converted).
  case advanced(bytes: Int)
  case tensorFinished(index: Int, count: Int, tensor: PlannedTensor, sourceBytes: Int, targetBytes: Int)
  case verifying(path: String)
}

/// What a finished run reports (llama-quantize's closing lines).
public struct QuantizeSummary: Sendable {
  public var plan: QuantizationPlan
  public var sourceTensorBytes: Int
  public var targetTensorBytes: Int
  public var elementCount: Int
  public var inputFileSize: Int
  public var outputFileSize: Int
  public var seconds: Double
  public var warnings: [String]

  /// Bits per weight of the tensor data.
  public var sourceBPW: Double {
    elementCount == 0 ? 0 : Double(sourceTensorBytes) * 8 / Double(elementCount)
  }
  public var targetBPW: Double {
    elementCount == 0 ? 0 : Double(targetTensorBytes) * 8 / Double(elementCount)
  }

  public var text: String {
    let mib = { (n: Int) in String(format: "%8.2f MiB", Double(n) / 1048576) }
    var lines = [
      "model size  = \(mib(sourceTensorBytes)) (\(String(format: "%.2f", sourceBPW)) BPW)",
      "quant size  = \(mib(targetTensorBytes)) (\(String(format: "%.2f", targetBPW)) BPW)",
      "file size   = \(Format.bytes(inputFileSize)) -> \(Format.bytes(outputFileSize))",
      "file type   = \(plan.fileType.name) (general.file_type = \(plan.fileType.rawValue))\(plan.pure ? ", pure" : "")",
      "time        = \(String(format: "%.2f", seconds)) s",
    ]
    if plan.fallbackCount > 0 {
      lines.append(
        "WARNING: \(plan.fallbackCount) of \(plan.tensors.count) tensor(s) required fallback quantization")
    }
    return lines.joined(separator: "\n")
  }
}

/// `quanta quantize`: plans per-tensor types like llama-quantize, converts tensor by tensor from the
/// mapped input into a temporary file, re-reads it, and renames it onto the output.
public enum QuantizePipeline {
  /// Metadata keys of split files that a single output must not carry (upstream removes them too).
  static let splitKeys = ["split.no", "split.count", "split.tensors.count"]
  /// `GGML_QNT_VERSION`.
  public static let quantizationVersion: UInt32 = 2

  /// The model facts the planner needs, read leniently: a missing or oddly typed key means
  /// "unknown", which only turns off the rules that depend on it.
  public static func modelFacts(_ metadata: GGUFMetadata) -> ModelFacts {
    let arch = (try? metadata.optionalString("general.architecture")) ?? ""
    func int(_ key: String) -> Int? {
      guard let value = metadata["\(arch).\(key)"] else { return nil }
      if let x = value.integerValue { return x }
      // Per-layer arrays (e.g. head_count_kv on some models): upstream's n_gqa() reads layer 0.
      if case .array(let a) = value, let first = a.values.first { return first.integerValue }
      return nil
    }
    let heads = int("attention.head_count") ?? 0
    return ModelFacts(
      architecture: arch, layerCount: int("block_count"), headCount: heads,
      headCountKV: int("attention.head_count_kv") ?? heads, expertCount: int("expert_count") ?? 0)
  }

  /// The tensors of `file` as the planner sees them.
  public static func descriptors(_ file: GGUFFile) -> [TensorDescriptor] {
    file.tensors.map { TensorDescriptor(name: $0.name, type: $0.type, shape: $0.shape) }
  }

  /// Plans `file` for `fileType` and checks that every conversion has a codec, before any output.
  public static func plan(file: GGUFFile, fileType: LlamaFileType, pure: Bool) throws -> QuantizationPlan {
    let plan = try TensorTypePlanner.plan(
      tensors: descriptors(file), facts: modelFacts(file.metadata), fileType: fileType, pure: pure)
    for t in plan.tensors where t.isConverted {
      guard TensorConverter.canRead(t.sourceType) else {
        throw QuantaToolError.noDequantizer(type: t.sourceType, tensor: t.name)
      }
      guard TensorConverter.canWrite(t.targetType) else {
        throw QuantaToolError.noQuantizer(type: t.targetType, tensor: t.name)
      }
    }
    return plan
  }

  /// Runs a quantization. On any error nothing is left at the output path's temporary name, and an
  /// existing file at the output path is untouched.
  public static func run(
    _ options: QuantizeOptions, report: @escaping @Sendable (QuantizeEvent) -> Void = { _ in }
  ) throws -> QuantizeSummary {
    let start = Date()
    guard options.threads >= 1 else { throw QuantaToolError.invalidThreadCount(options.threads) }
    try refuseSameFile(input: options.inputPath, output: options.outputPath)

    let input = try GGUFFile(path: options.inputPath)
    // The metadata checks `run` makes: an output that cannot run is refused before it is written.
    var warnings: [String] = []
    do {
      try input.validateModelMetadata()
    } catch {
      guard options.allowInvalid else {
        throw QuantaToolError.invalidModel(path: options.inputPath, error: error)
      }
      warnings.append(
        "\(options.inputPath) is not a valid model (\(error)); quantizing it anyway (--allow-invalid)")
    }
    let plan = try plan(file: input, fileType: options.fileType, pure: options.pure)

    for t in plan.tensors where t.isRequantized {
      warnings.append(
        "requantizing \(t.name) from \(t.sourceType) to \(t.targetType) through f32: quality will suffer (start from an F32/F16/BF16 model)"
      )
    }
    for t in plan.tensors {
      if let wanted = t.fallbackFrom {
        warnings.append(
          "\(t.name): \(t.shape.first ?? 0) columns not divisible by \(wanted.blockSize) (required for \(wanted)), using \(t.targetType)"
        )
      }
    }
    let sourceBytes = plan.tensors.reduce(0) { total, t in
      total + (input.tensor(named: t.name)?.byteCount ?? 0)
    }
    report(.planned(plan, totalSourceBytes: sourceBytes))
    for w in warnings { report(.warning(w)) }

    // Metadata: the input's, stamped with the mix (upstream sets the same two keys).
    var writer = GGUFWriter(alignment: input.alignment)
    for (key, value) in input.metadata.entries where !splitKeys.contains(key) {
      writer.set(key, value)
    }
    writer.set("general.quantization_version", .uint32(quantizationVersion))
    writer.set("general.file_type", .uint32(options.fileType.rawValue))

    var targetBytes = 0
    let count = plan.tensors.count
    let threads = options.threads
    for (index, entry) in plan.tensors.enumerated() {
      guard let info = input.tensor(named: entry.name) else { continue }
      let target = try outputByteCount(entry)
      targetBytes += target
      writer.addTensor(name: entry.name, type: entry.targetType, shape: entry.shape) { out in
        report(
          .tensorStarted(
            index: index, count: count, tensor: entry, sourceBytes: info.byteCount, targetBytes: target))
        try input.withData(for: info) { src in
          if entry.isConverted {
            let rowLength = entry.shape.first ?? 1
            try TensorConverter.convert(
              tensor: entry.name, src: src, srcType: entry.sourceType, dst: out, dstType: entry.targetType,
              rowLength: rowLength, rows: rowLength == 0 ? 0 : entry.elementCount / rowLength,
              threads: threads, progress: { report(.advanced(bytes: $0)) })
          } else {
            guard src.count == out.count else {
              throw QuantaToolError.verificationFailed(
                path: options.inputPath,
                reason: "tensor \(entry.name) has \(src.count) bytes, \(out.count) expected")
            }
            out.copyMemory(from: src)
            report(.advanced(bytes: src.count))
          }
          releasePages(src)
        }
        report(
          .tensorFinished(
            index: index, count: count, tensor: entry, sourceBytes: info.byteCount, targetBytes: target))
      }
    }

    let temp = TemporaryOutput(finalPath: options.outputPath)
    do {
      try writer.write(to: temp.temporaryPath)
      report(.verifying(path: temp.temporaryPath))
      let outputSize = try verify(path: temp.temporaryPath, plan: plan, fileType: options.fileType)
      try temp.commit()
      return QuantizeSummary(
        plan: plan, sourceTensorBytes: sourceBytes, targetTensorBytes: targetBytes,
        elementCount: plan.tensors.reduce(0) { $0 + $1.elementCount }, inputFileSize: input.fileSize,
        outputFileSize: outputSize, seconds: Date().timeIntervalSince(start), warnings: warnings)
    } catch {
      temp.discard()
      throw error
    }
  }

  /// Drops a finished tensor's pages from this process (upstream unmaps each weight after use), so
  /// resident memory stays near one tensor however large the model. The mapping is private and
  /// read-only: pages come back from the file if touched again.
  static func releasePages(_ region: UnsafeRawBufferPointer) {
    guard let base = region.baseAddress, region.count > 0 else { return }
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    guard page > 0 else { return }
    let start = Int(bitPattern: base) / page * page
    let end = Int(bitPattern: base) + region.count
    _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, Int32(MADV_DONTNEED))
  }

  static func outputByteCount(_ t: PlannedTensor) throws -> Int {
    guard let rowLength = t.shape.first, rowLength > 0 else { return 0 }
    guard let bytes = t.targetType.byteCount(forElements: t.elementCount), t.elementCount % rowLength == 0
    else {
      throw QuantaToolError.invalidArgument(
        "tensor \(t.name) of shape \(Format.shape(t.shape)) cannot be stored as \(t.targetType)")
    }
    return bytes
  }

  /// Re-reads the written file: same tensors, in order, with the planned types and shapes, and the
  /// file type stamped. Returns the file size.
  static func verify(path: String, plan: QuantizationPlan, fileType: LlamaFileType) throws -> Int {
    let written: GGUFFile
    do {
      written = try GGUFFile(path: path)
    } catch {
      throw QuantaToolError.verificationFailed(path: path, reason: "cannot be read back: \(error)")
    }
    guard written.tensors.count == plan.tensors.count else {
      throw QuantaToolError.verificationFailed(
        path: path, reason: "\(written.tensors.count) tensors, \(plan.tensors.count) planned")
    }
    for (got, want) in zip(written.tensors, plan.tensors) {
      guard got.name == want.name, got.type == want.targetType, got.shape == want.shape else {
        throw QuantaToolError.verificationFailed(
          path: path,
          reason:
            "tensor \(got.name) \(got.type) \(got.shape), planned \(want.name) \(want.targetType) \(want.shape)"
        )
      }
    }
    guard (try? written.metadata.uint32("general.file_type")) == fileType.rawValue else {
      throw QuantaToolError.verificationFailed(
        path: path, reason: "general.file_type is not \(fileType.rawValue)")
    }
    return written.fileSize
  }

  /// Refuses an output that is the input itself (same path, a link to it, or the same inode).
  static func refuseSameFile(input: String, output: String) throws {
    func canonical(_ path: String) -> String {
      let url = URL(fileURLWithPath: path).standardizedFileURL
      return url.resolvingSymlinksInPath().path
    }
    if canonical(input) == canonical(output) {
      throw QuantaToolError.outputIsInput(output)
    }
    var a = stat()
    var b = stat()
    if stat(input, &a) == 0, stat(output, &b) == 0, a.st_dev == b.st_dev, a.st_ino == b.st_ino {
      throw QuantaToolError.outputIsInput(output)
    }
  }
}
