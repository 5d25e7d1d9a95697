import Foundation
import GGML
import GGUF
import QuantaFiles
import QuantaLM
import QuantaQuantize

/// What `--type` asked for.
public enum SynthTarget: Sendable, Equatable, CustomStringConvertible {
  /// A llama.cpp file type: its mix rules pick each tensor's type (unless `pure`).
  case mix(LlamaFileType)
  /// One tensor type for every quantizable weight (also for types no mix names, like q8_1).
  case tensorType(GGMLType)

  /// A file type name first (as `quantize` reads it), else a ggml tensor type name. With `pure`,
  /// a tensor type name wins (the IQ2_S mix's base type is iq2_xs, but `--pure --type iq2_s` means
  /// iq2_s).
  public init(argument: String, pure: Bool = false) throws {
    if pure, let type = GGMLType(name: argument) {
      guard SynthWeights.supportedTypes.contains(type) else { throw SynthError.noBlockLayout(type) }
      self = .tensorType(type)
    } else if let fileType = LlamaFileType(argument: argument) {
      self = .mix(fileType)
    } else if let type = GGMLType(name: argument) {
      guard SynthWeights.supportedTypes.contains(type) else { throw SynthError.noBlockLayout(type) }
      self = .tensorType(type)
    } else {
      throw SynthError.unknownType(argument)
    }
  }

  /// The tensor types `--type` accepts, for `--help`.
  public static var supportedTypeNames: String {
    SynthWeights.supportedTypes.map(\.name).joined(separator: ", ")
  }

  public var description: String {
    switch self {
    case .mix(let f): f.name
    case .tensorType(let t): t.name
    }
  }

  /// `general.file_type`: the mix, or the mix whose base type this is; nil when none is.
  var fileType: LlamaFileType? {
    switch self {
    case .mix(let f): f
    case .tensorType(let t): LlamaFileType.allCases.first { $0.defaultType == t }
    }
  }
}

public struct SynthOptions: Sendable {
  public var preset: SynthPreset
  public var target: SynthTarget
  /// Every quantizable weight in the target's base type (no mix rules).
  public var pure: Bool
  public var seed: UInt64
  public var outputPath: String

  public init(
    preset: SynthPreset, target: SynthTarget, pure: Bool = false, seed: UInt64 = 0, outputPath: String
  ) {
    self.preset = preset
    self.target = target
    self.pure = pure
    self.seed = seed
    self.outputPath = outputPath
  }
}

public struct SynthSummary: Sendable {
  public var path: String
  public var tensorCount: Int
  public var parameterCount: Int
  public var fileBytes: Int
  public var seconds: Double
  /// Tensor count per type, by type name.
  public var typeCounts: [(String, Int)]

  public var text: String {
    let gib = Double(fileBytes) / Double(1 << 30)
    let bpw = parameterCount > 0 ? Double(fileBytes) * 8 / Double(parameterCount) : 0
    let types = typeCounts.map { "\($0.0) ×\($0.1)" }.joined(separator: ", ")
    let params =
      parameterCount >= 1_000_000_000
      ? String(format: "%.2fB", Double(parameterCount) / 1e9)
      : String(format: "%.2fM", Double(parameterCount) / 1e6)
    return "wrote \(path): \(tensorCount) tensors (\(types)), \(params) parameters, "
      + String(format: "%.2f GiB (%.2f bits/weight) in %.1f s", gib, bpw, seconds)
  }
}

/// Writes GGUF files with a real model's tensors and hyperparameters and random weights.
public enum SynthModel {
  /// The preset's tensors from its architecture's table (llama.cpp's names, shapes from the
  /// preset's sizes, ne0 first), in file order, all F32 as the planner's source type. Required
  /// tensors are written; of the others, a tied one (the LM head) unless the preset ties it, the
  /// RoPE frequency factors with Llama 3 scaling, and no optional bias.
  public static func tensors(for p: SynthPreset) -> [TensorDescriptor] {
    let dims = p.dimensions
    return p.architecture.fileOrder(layerCount: p.layerCount).compactMap { name, t in
      switch t.presence {
      case .required: break
      case .tiedTo: if p.tiedEmbeddings { return nil }
      case .optional: if t.role != .ropeFrequencyFactors || p.ropeScaling == nil { return nil }
      }
      return TensorDescriptor(name: name, type: .f32, shape: dims.shape(t.shape))
    }
  }

  /// The type of every tensor, in `tensors(for:)` order: llama.cpp's rules through
  /// `TensorTypePlanner` for a mix, its fallback rule alone for a single type or `pure`.
  public static func plan(_ p: SynthPreset, target: SynthTarget, pure: Bool) throws -> [PlannedTensor] {
    let tensors = tensors(for: p)
    switch target {
    case .mix(let fileType) where !pure:
      let facts = ModelFacts(
        architecture: p.architecture.rawValue, layerCount: p.layerCount, headCount: p.headCount,
        headCountKV: p.kvHeadCount, expertCount: p.expertCount)
      let planned: QuantizationPlan
      do {
        planned = try TensorTypePlanner.plan(tensors: tensors, facts: facts, fileType: fileType)
      } catch QuantaToolError.requiresImportanceMatrix(_, let type) {
        throw SynthError.mixNeedsImportanceMatrix(mix: fileType.name, type: type)
      }
      let byName = Dictionary(uniqueKeysWithValues: planned.tensors.map { ($0.name, $0) })
      return try tensors.map { t in
        guard let entry = byName[t.name] else { throw SynthError.unknownType(t.name) }
        guard SynthWeights.supportedTypes.contains(entry.targetType) else {
          throw SynthError.noBlockLayout(entry.targetType)
        }
        return entry
      }
    default:
      let base: GGMLType
      switch target {
      case .mix(let f): base = f.defaultType
      case .tensorType(let t): base = t
      }
      guard SynthWeights.supportedTypes.contains(base) else { throw SynthError.noBlockLayout(base) }
      return try tensors.map { t in
        var entry = PlannedTensor(name: t.name, sourceType: t.type, targetType: t.type, shape: t.shape)
        if TensorTypePlanner.allowsQuantization(t) {
          if base.isQuantized {
            (entry.targetType, entry.fallbackFrom) = try TensorTypePlanner.fallback(tensor: t, target: base)
          } else {
            entry.targetType = base
          }
        }
        guard SynthWeights.supportedTypes.contains(entry.targetType) else {
          throw SynthError.noBlockLayout(entry.targetType)
        }
        return entry
      }
    }
  }

  /// The metadata llama.cpp's loader reads for the architecture, then the tokenizer.
  static func metadata(_ p: SynthPreset, target: SynthTarget, quantized: Bool) -> [(String, GGUFValue)] {
    let a = p.architecture.rawValue
    var out: [(String, GGUFValue)] = [
      ("general.architecture", .string(a)),
      ("general.type", .string("model")),
      ("general.name", .string(p.displayName)),
      ("general.description", .string("random weights written by quanta synth (preset \(p.name))")),
    ]
    if let fileType = target.fileType { out.append(("general.file_type", .uint32(fileType.rawValue))) }
    if quantized { out.append(("general.quantization_version", .uint32(2))) }
    // The architecture's keys (vocab_size first, which only llama.cpp reads), in converter order.
    out.append(("\(a).vocab_size", .uint32(UInt32(p.vocabularySize))))
    for key in Hyperparameter.allCases where p.architecture.declaration(of: key) != nil {
      if let value = value(of: key, p) { out.append((p.architecture.key(key), value)) }
    }
    if p.yarn != nil { out.append(("\(a).rope.scaling.type", .string("yarn"))) }
    return out
  }

  /// The preset's value of `key`; nil for keys a preset leaves at their defaults (RoPE scaling
  /// travels as `rope_freqs.weight`; soft-capping only where the preset has it).
  static func value(of key: Hyperparameter, _ p: SynthPreset) -> GGUFValue? {
    switch key {
    case .contextLength: .uint32(UInt32(p.contextLength))
    case .embeddingLength: .uint32(UInt32(p.embeddingLength))
    case .blockCount: .uint32(UInt32(p.layerCount))
    case .feedForwardLength: .uint32(UInt32(p.feedForwardLength))
    case .ropeDimensionCount, .keyLength, .valueLength: .uint32(UInt32(p.headDim))
    case .headCount: .uint32(UInt32(p.headCount))
    case .headCountKV: .uint32(UInt32(p.kvHeadCount))
    case .rmsEpsilon: .float32(p.rmsEpsilon)
    case .ropeFreqBase: .float32(p.ropeFreqBase)
    case .slidingWindow: p.slidingWindow > 0 ? .uint32(UInt32(p.slidingWindow)) : nil
    case .attentionLogitSoftcap: p.attentionSoftcap > 0 ? .float32(p.attentionSoftcap) : nil
    case .finalLogitSoftcap: p.finalSoftcap > 0 ? .float32(p.finalSoftcap) : nil
    // phi3's converter writes the pre-scaling context (no LongRoPE in the presets: the same).
    case .ropeScalingOriginalContextLength: .uint32(UInt32(p.yarn?.originalContextLength ?? p.contextLength))
    case .ropeScalingFactor: p.yarn.map { .float32($0.factor) }
    case .ropeScalingAttentionFactor: nil
    case .expertCount: p.expertCount > 0 ? .uint32(UInt32(p.expertCount)) : nil
    case .expertUsedCount: p.expertCount > 0 ? .uint32(UInt32(p.expertUsedCount)) : nil
    case .expertFeedForwardLength: p.expertCount > 0 ? .uint32(UInt32(p.expertFeedForwardLength)) : nil
    }
  }

  /// A stable per-tensor seed: FNV-1a of the name, mixed with the run's seed.
  static func tensorSeed(_ name: String, seed: UInt64) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
    var state = h ^ seed
    return splitMix64(&state)
  }

  /// Writes the model to a temporary file beside `outputPath`, renamed on success.
  public static func write(_ options: SynthOptions) throws -> SynthSummary {
    let started = Date()
    let p = options.preset
    let planned = try plan(p, target: options.target, pure: options.pure)
    let roles = Dictionary(
      p.architecture.fileOrder(layerCount: p.layerCount).map { ($0.name, $0.declaration.role) },
      uniquingKeysWith: { a, _ in a })
    /// The LM head (the token embedding when tied) may be larger than the layers' weights.
    let head: TensorRole = p.tiedEmbeddings ? .tokenEmbedding : .output
    func std(_ name: String) -> Float {
      if let role = roles[name], let s = p.stdByRole[role] { return s }
      return switch roles[name] {
      case head: p.headStd
      case .expertRouter: p.routerStd
      case .attentionSinks: p.sinkStd
      default: p.weightStd
      }
    }
    var scales: [String: SynthWeights.Scales] = [:]
    for t in planned where t.targetType.isQuantized {
      let key = "\(t.targetType.name) \(std(t.name))"
      if scales[key] == nil { scales[key] = try SynthWeights.calibrate(t.targetType, std: std(t.name)) }
    }
    var writer = GGUFWriter()
    let quantized = planned.contains { $0.targetType.isQuantized }
    for (key, value) in metadata(p, target: options.target, quantized: quantized) { writer.set(key, value) }
    for (key, value) in p.tokenizer.metadata(p.tokenizer.build()) { writer.set(key, value) }

    let ropeFactors = p.ropeScaling?.factors(headDim: p.headDim, base: p.ropeFreqBase)
    for t in planned {
      let content: SynthContent
      // 1-D tensors stay F32 under every mix (llama.cpp never quantizes them).
      let isF32 = t.targetType == .f32
      let role = roles[t.name]
      if isF32, role == .ropeFrequencyFactors, let ropeFactors {
        content = .values(ropeFactors)
      } else if isF32, role?.isNorm == true {
        content = .ones
      } else if isF32, role?.isBias == true {
        content = .noise
      } else {
        let s = std(t.name)
        content = .weights(t.targetType, scales["\(t.targetType.name) \(s)"], std: s)
      }
      let seed = tensorSeed(t.name, seed: options.seed)
      writer.addTensor(name: t.name, type: t.targetType, shape: t.shape) { buffer in
        content.fill(buffer, seed: seed)
      }
    }

    let output = TemporaryOutput(finalPath: options.outputPath)
    defer { output.discard() }
    try writer.write(to: output.temporaryPath)
    try output.commit()

    let size = (try? FileManager.default.attributesOfItem(atPath: options.outputPath)[.size] as? Int) ?? 0
    var counts: [GGMLType: Int] = [:]
    for t in planned { counts[t.targetType, default: 0] += 1 }
    return SynthSummary(
      path: options.outputPath, tensorCount: planned.count,
      parameterCount: planned.reduce(0) { $0 + $1.elementCount }, fileBytes: size,
      seconds: Date().timeIntervalSince(started),
      typeCounts: counts.sorted { $0.key.rawValue < $1.key.rawValue }.map { ($0.key.name, $0.value) })
  }
}
