import GGML

/// One tensor as the planner sees it: a name, its current type and its shape (ne0 first).
public struct TensorDescriptor: Sendable, Equatable {
  public var name: String
  public var type: GGMLType
  public var shape: [Int]

  public init(name: String, type: GGMLType, shape: [Int]) {
    self.name = name
    self.type = type
    self.shape = shape
  }

  /// ggml's `ggml_n_dims`: trailing dimensions of size 1 do not count, so [4096, 1] is 1-D.
  public var dimensionCount: Int {
    var n = shape.count
    while n > 1 && shape[n - 1] == 1 { n -= 1 }
    return max(n, 1)
  }

  public var columns: Int { shape.first ?? 1 }
  public var elementCount: Int { shape.reduce(1, *) }
}

/// The hyperparameters llama.cpp's type choice looks at, read from GGUF metadata
/// (`general.architecture`, `<arch>.block_count`, `<arch>.attention.head_count[_kv]`,
/// `<arch>.expert_count`).
public struct ModelFacts: Sendable, Equatable {
  public var architecture: String
  /// `n_layer`; nil when the file does not say (then tensor names are counted instead).
  public var layerCount: Int?
  public var headCount: Int
  public var headCountKV: Int
  public var expertCount: Int

  public init(
    architecture: String = "", layerCount: Int? = nil, headCount: Int = 0, headCountKV: Int = 0,
    expertCount: Int = 0
  ) {
    self.architecture = architecture
    self.layerCount = layerCount
    self.headCount = headCount
    self.headCountKV = headCountKV
    self.expertCount = expertCount
  }

  /// `hparams.n_gqa()`: query heads per KV head, 0 when unknown.
  var gqa: Int { headCountKV == 0 ? 0 : headCount / headCountKV }
  var isFalcon: Bool { architecture == "falcon" }
  /// `LLM_TYPE_70B` as upstream infers it for quantization: llama, 80 layers, grouped-query attention.
  var is70B: Bool { architecture == "llama" && layerCount == 80 && headCount != headCountKV }
}

/// What happens to one tensor.
public struct PlannedTensor: Sendable, Equatable {
  public var name: String
  public var sourceType: GGMLType
  public var targetType: GGMLType
  public var shape: [Int]
  /// The type the mix asked for when the row length forced a fallback (upstream's n_fallback).
  public var fallbackFrom: GGMLType?

  public var elementCount: Int { shape.reduce(1, *) }
  public var isConverted: Bool { sourceType != targetType }
  /// Converting from an already block-quantized type loses precision twice.
  public var isRequantized: Bool { isConverted && sourceType.isQuantized }

  public init(
    name: String, sourceType: GGMLType, targetType: GGMLType, shape: [Int], fallbackFrom: GGMLType? = nil
  ) {
    self.name = name
    self.sourceType = sourceType
    self.targetType = targetType
    self.shape = shape
    self.fallbackFrom = fallbackFrom
  }
}

/// A full plan: tensors in output order (llama.cpp's order: by layer, then name).
public struct QuantizationPlan: Sendable {
  public var fileType: LlamaFileType
  public var pure: Bool
  public var tensors: [PlannedTensor]
  public var fallbackCount: Int { tensors.filter { $0.fallbackFrom != nil }.count }
}

/// llama.cpp's tensor-type choice (src/llama-quant.cpp), re-expressed. Each branch says which
/// upstream rule it mirrors. Options upstream has but `quanta quantize` does not (imatrix,
/// --output-tensor-type, --token-embedding-type, --tensor-type overrides) are left out.
public enum TensorTypePlanner {
  /// Plans every tensor of a file for `fileType`.
  /// - Parameters:
  ///   - pure: upstream's `--pure`: every quantizable tensor gets the default type (still subject
  ///     to the block-size fallback).
  public static func plan(
    tensors: [TensorDescriptor], facts: ModelFacts, fileType: LlamaFileType, pure: Bool = false
  ) throws -> QuantizationPlan {
    // Upstream iterates its weights map, ordered by weight_name_comparer (layer, then name);
    // the per-layer counters below depend on that order.
    let ordered = tensors.sorted(by: weightNameLess)
    var state = State(tensors: ordered, facts: facts)
    let defaultType = fileType.defaultType
    var planned: [PlannedTensor] = []
    planned.reserveCapacity(ordered.count)
    for tensor in ordered {
      var entry = PlannedTensor(
        name: tensor.name, sourceType: tensor.type, targetType: tensor.type, shape: tensor.shape)
      if allowsQuantization(tensor) {
        let (chosen, wanted) = try chooseType(
          &state, tensor: tensor, defaultType: defaultType, fileType: fileType, pure: pure)
        entry.targetType = chosen
        entry.fallbackFrom = wanted
        // tensor_requires_imatrix: the very-low-bit types are garbage without one.
        if requiresImportanceMatrix(name: tensor.name, type: chosen, fileType: fileType) {
          throw QuantaToolError.requiresImportanceMatrix(tensor: tensor.name, type: chosen)
        }
      }
      planned.append(entry)
    }
    return QuantizationPlan(fileType: fileType, pure: pure, tensors: planned)
  }

  // MARK: - Upstream's pieces

  /// `weight_name_comparer`: `blk.N.` tensors by N (others count as -1, so first), then bytewise.
  static func weightNameLess(_ a: TensorDescriptor, _ b: TensorDescriptor) -> Bool {
    let la = layerIndex(a.name) ?? -1
    let lb = layerIndex(b.name) ?? -1
    if la != lb { return la < lb }
    return a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
  }

  /// `sscanf(name, "blk.%d.", &i)`: the integer right after a leading `blk.`, if any.
  static func layerIndex(_ name: String) -> Int? {
    guard name.hasPrefix("blk.") else { return nil }
    var value = 0
    var digits = 0
    for byte in name.utf8.dropFirst(4) {
      guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 9 else { break }
      value = value * 10 + Int(byte - UInt8(ascii: "0"))
      digits += 1
    }
    return digits > 0 ? value : nil
  }

  enum Category: Equatable {
    case tokenEmbd, attentionQ, attentionV, attentionK, attentionQKV, attentionKVB
    case attentionOutput, ffnUp, ffnGate, ffnDown, output, other

    /// `tensor_get_category`; the order of the checks is upstream's.
    init(name: String) {
      if name == "output.weight" {
        self = .output
      } else if name == "token_embd.weight" || name == "per_layer_token_embd.weight" {
        self = .tokenEmbd
      } else if name.contains("attn_qkv.weight") {
        self = .attentionQKV
      } else if name.contains("attn_kv_b.weight") {
        self = .attentionKVB
      } else if name.contains("attn_v.weight") {
        self = .attentionV
      } else if name.contains("attn_k.weight") {
        self = .attentionK
      } else if name.contains("attn_q.weight") {
        self = .attentionQ
      } else if name.contains("attn_output.weight") {
        self = .attentionOutput
      } else if name.contains("ffn_up") {
        self = .ffnUp
      } else if name.contains("ffn_gate") {
        self = .ffnGate
      } else if name.contains("ffn_down") {
        self = .ffnDown
      } else {
        self = .other
      }
    }

    /// `category_is_attn_v`: the tensors most sensitive to quantization.
    var isAttentionVLike: Bool { self == .attentionV || self == .attentionQKV || self == .attentionKVB }
  }

  /// Substrings that keep a `*weight` tensor unquantized (`tensor_allows_quantization`).
  static let keptUnquantized = [
    "_norm.weight",
    "ffn_gate_inp.weight",  // expert gating
    "ffn_gate_tid2eid.weight",  // i32 routing table (DeepSeek-V4)
    "altup", "laurel",  // tiny (e.g. 4x4)
    "per_layer_model_proj",
    "ssm_conv1d", "shortconv.conv.weight",  // Mamba / Kimi conv1d
    "indexer.k_proj.weight", "indexer.q_proj.weight",  // MiniMax indexer
    "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
    "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight",
    "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
    "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight",  // RWKV
    "attn_rel_b.weight",  // T5 relative position bias
    ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd",
    ".patch_merger",  // multimodal
    "a.rvq.codebook", "mm.a.code_embd",  // audio codebooks
  ]

  /// `tensor_allows_quantization`: only 2-D+ tensors whose name ends in `weight`, minus the
  /// exceptions above and the position / token-type embeddings.
  public static func allowsQuantization(_ tensor: TensorDescriptor) -> Bool {
    guard tensor.dimensionCount >= 2 else { return false }
    let name = tensor.name
    guard name.hasSuffix("weight") else { return false }
    if name == "position_embd.weight" || name == "token_types.weight" { return false }
    return !keptUnquantized.contains { name.contains($0) }
  }

  /// `tensor_requires_imatrix`.
  static func requiresImportanceMatrix(name: String, type: GGMLType, fileType: LlamaFileType) -> Bool {
    if name == "output.weight" || name == "token_embd.weight" || name == "per_layer_token_embd.weight" {
      return false
    }
    switch type {
    case .iq3_xxs, .iq2_xxs, .iq2_xs, .iq2_s, .iq1_m, .iq1_s: return true
    case .q2_K: return fileType == .q2_K_S  // the one k-quant exception
    default: return false
    }
  }

  /// `quantize_state_impl`: counters that walk the layers as tensors are visited.
  struct State {
    var facts: ModelFacts
    var nAttentionWV = 0
    var nFfnDown = 0
    var nFfnGate = 0
    var nFfnUp = 0
    var iAttentionWV = 0
    var iFfnDown = 0
    var iFfnGate = 0
    var iFfnUp = 0
    /// Tied embeddings until an `output.weight` shows up.
    var hasTiedEmbeddings = true

    /// `init_quantize_state_counters`.
    init(tensors: [TensorDescriptor], facts: ModelFacts) {
      self.facts = facts
      var ffnDown = 0
      var ffnGate = 0
      var ffnUp = 0
      for t in tensors {
        let category = Category(name: t.name)
        if category.isAttentionVLike { nAttentionWV += 1 }
        if category == .output { hasTiedEmbeddings = false }
        if category == .ffnDown { ffnDown += 1 }
        if category == .ffnGate { ffnGate += 1 }
        if category == .ffnUp { ffnUp += 1 }
      }
      // Upstream uses n_layer for all three; a file without block_count falls back to counting
      // the tensors, which is what llama.cpp did before it had n_layer here.
      if let layers = facts.layerCount {
        (nFfnDown, nFfnGate, nFfnUp) = (layers, layers, layers)
      } else {
        (nFfnDown, nFfnGate, nFfnUp) = (ffnDown, ffnGate, ffnUp)
      }
    }
  }

  /// `use_more_bits`: the first and last eighth of the layers and every third one between.
  static func useMoreBits(_ i: Int, _ n: Int) -> Bool {
    i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
  }

  /// `llama_tensor_get_type` for a quantizable tensor. Returns the type and, when the block-size
  /// fallback changed it, the type that was wanted.
  static func chooseType(
    _ state: inout State, tensor: TensorDescriptor, defaultType: GGMLType, fileType: LlamaFileType,
    pure: Bool
  ) throws -> (GGMLType, GGMLType?) {
    // Float targets (F32/F16/BF16) take no mix rules and need no fallback.
    guard defaultType.isQuantized else { return (defaultType, nil) }
    var newType = defaultType
    if !pure {
      newType = try mixType(&state, newType: newType, tensor: tensor, ftype: fileType)
    }
    return try fallback(tensor: tensor, target: newType)
  }

  /// `tensor_type_fallback`: a row length that is not a multiple of the block size gets a type
  /// with a smaller block, or F16 when even 32 does not divide it.
  public static func fallback(tensor: TensorDescriptor, target: GGMLType) throws -> (GGMLType, GGMLType?) {
    let columns = tensor.columns
    guard columns % target.blockSize != 0 else { return (target, nil) }
    var result: GGMLType
    switch target {
    case .iq1_s, .iq1_m, .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq4_xs: result = .iq4_nl
    case .q2_0, .q2_K, .q3_K, .tq1_0, .tq2_0: result = .q4_0
    case .q4_K: result = .q5_0
    case .q5_K: result = .q5_1
    case .q6_K: result = .q8_0
    default:
      throw QuantaToolError.noFallback(type: target, tensor: tensor.name, columns: columns)
    }
    if columns % result.blockSize != 0 { result = .f16 }
    return (result, target)
  }

  /// `llama_tensor_get_type_impl`: the per-mix rules by tensor category and layer.
  static func mixType(
    _ qs: inout State, newType initial: GGMLType, tensor: TensorDescriptor, ftype: LlamaFileType
  ) throws -> GGMLType {
    var newType = initial
    let name = tensor.name
    let category = Category(name: name)
    let facts = qs.facts
    let nExpert = facts.expertCount
    let falcon = facts.isFalcon

    // layer_info: with experts, ffn tensors are not in layer order, so read the layer from the name.
    func layerInfo(_ i: Int, _ n: Int) throws -> (Int, Int) {
      guard max(1, nExpert) > 1 else { return (i, n) }
      guard let layer = layerIndex(name), layer >= 0, layer < n else {
        throw QuantaToolError.layerUnknown(tensor: name, layerCount: n)
      }
      return (layer, n)
    }
    let lowBitIQ: Set<LlamaFileType> = [.iq2_xxs, .iq2_xs, .iq1_s, .iq2_s, .iq2_m, .iq1_m]

    if category == .output || (qs.hasTiedEmbeddings && category == .tokenEmbd) {
      // Output (and a token embedding shared with it): more bits, Q6_K unless already Q8_0.
      let blockSize = newType.blockSize
      if ftype == .mxfp4_moe {
        newType = .q8_0
      } else if falcon || tensor.columns % blockSize != 0 {
        newType = .q8_0
      } else if [.iq2_xxs, .iq2_xs, .iq3_xxs, .iq1_s, .iq2_s, .iq2_m, .iq1_m].contains(ftype) {
        newType = .q5_K
      } else if newType != .q8_0 {
        newType = .q6_K
      }
    } else if ftype == .mxfp4_moe {
      // MXFP4_MOE: expert tensors (3-D) mxfp4, everything else q8_0. For bailingmoe3 only the
      // ffn expert roles count as experts (its MLA projections are 3-D too).
      let ne2 = tensor.shape.count > 2 ? tensor.shape[2] : 1
      let isBailingExpert =
        facts.architecture == "bailingmoe3"
        && (category == .ffnUp || category == .ffnGate || category == .ffnDown)
      if ne2 > 1 && (facts.architecture != "bailingmoe3" || isBailingExpert) {
        newType = .mxfp4
      } else {
        newType = .q8_0
      }
    } else if category == .tokenEmbd {
      // Untied token embedding: only the very-low-bit mixes change it.
      if [.iq2_xxs, .iq2_xs, .iq1_s, .iq1_m].contains(ftype) {
        newType = .q2_K
      } else if ftype == .iq2_s || ftype == .iq2_m || ftype == .iq3_xxs {
        newType = .iq3_s
      } else if ftype == .tq1_0 || ftype == .tq2_0 || ftype == .q2_0 {
        newType = .q4_K
      }
    } else if lowBitIQ.contains(ftype) {
      // The IQ1/IQ2 mixes.
      let iq2sm = ftype == .iq2_s || ftype == .iq2_m
      if category.isAttentionVLike {
        if facts.gqa >= 4 || nExpert >= 4 {
          newType = .q4_K
        } else {
          newType = iq2sm ? .iq3_s : .q2_K
        }
        qs.iAttentionWV += 1
      } else if nExpert == 8 && category == .attentionK {
        newType = .q4_K
      } else if category == .ffnDown {
        if qs.iFfnDown < qs.nFfnDown / 8 {
          newType = iq2sm ? .iq3_s : .q2_K
        }
        qs.iFfnDown += 1
      } else if category == .attentionOutput {
        if nExpert == 8 {
          newType = .q5_K
        } else if ftype == .iq1_s || ftype == .iq1_m {
          newType = .iq2_xxs
        } else if iq2sm {
          newType = .iq3_s
        }
      }
    } else if category.isAttentionVLike {
      // attn_v (and fused qkv / kv_b): the attn_v rules.
      if ftype == .q2_K {
        newType = facts.gqa >= 4 ? .q4_K : .q3_K
      } else if ftype == .q2_K_S && facts.gqa >= 4 {
        newType = .q4_K
      } else if ftype == .iq3_xxs {
        // No imatrix in quanta, so upstream's `!has_imatrix` branch.
        newType = facts.gqa >= 4 ? .q4_K : .iq3_s
      } else if (ftype == .iq3_xs || ftype == .iq3_s) && facts.gqa >= 4 {
        newType = .q4_K
      } else if ftype == .iq3_m {
        newType = .q4_K
      } else if ftype == .q3_K_M {
        newType = qs.iAttentionWV < 2 ? .q5_K : .q4_K
      } else if ftype == .q3_K_L {
        newType = .q5_K
      } else if (ftype == .iq4_nl || ftype == .iq4_xs) && facts.gqa >= 4 {
        newType = .q5_K
      } else if (ftype == .q4_K_M || ftype == .q5_K_M) && useMoreBits(qs.iAttentionWV, qs.nAttentionWV) {
        newType = .q6_K
      } else if ftype == .q4_K_S && qs.iAttentionWV < 4 {
        newType = .q5_K
      }
      // 70B: attn_v is 8x smaller than attn_q there, so more bits are nearly free.
      if facts.is70B && (newType == .q3_K || newType == .q4_K) { newType = .q5_K }
      // 8-expert models: q8_0 costs only ~128 MB.
      if nExpert == 8 { newType = .q8_0 }
      qs.iAttentionWV += 1
    } else if category == .attentionK {
      if nExpert == 8 {
        newType = .q8_0
      } else if ftype == .iq3_xs {
        newType = .iq3_xxs
      } else if ftype == .iq3_xxs {
        newType = .iq2_s
      }
    } else if category == .attentionQ {
      if ftype == .iq3_xs {
        newType = .iq3_xxs
      } else if ftype == .iq3_xxs {
        newType = .iq2_s
      }
    } else if category == .ffnDown {
      // ffn_down: the ffn_down rules, by layer.
      let (i, n) = try layerInfo(qs.iFfnDown, qs.nFfnDown)
      if ftype == .q2_K {
        newType = .q3_K
      } else if ftype == .q2_K_S {
        if i < n / 8 { newType = .q4_K }
      } else if ftype == .iq3_xxs {
        // `&& !has_imatrix`: always true here.
        newType = i < n / 8 ? .q4_K : .q3_K
      } else if ftype == .q3_K_M {
        newType = i < n / 16 ? .q5_K : (!falcon || useMoreBits(i, n)) ? .q4_K : .q3_K
      } else if ftype == .iq3_m && (i < n / 8 || (nExpert == 8 && useMoreBits(i, n))) {
        newType = .q4_K
      } else if ftype == .q3_K_L {
        newType = falcon ? .q4_K : .q5_K
      } else if ftype == .q4_K_M {
        if falcon {
          newType = i < n / 16 ? .q6_K : useMoreBits(i, n) ? .q5_K : .q4_K
        } else if useMoreBits(i, n) {
          newType = .q6_K
        }
      } else if i < n / 8 && (ftype == .iq4_nl || ftype == .iq4_xs) {
        // `&& !has_imatrix`: always true here.
        newType = .q5_K
      } else if ftype == .q5_K_M && useMoreBits(i, n) {
        newType = .q6_K
      } else if ftype == .q4_K_S && !falcon && i < n / 8 {
        newType = .q5_K
      }
      // (Upstream's Q4_0/Q5_0 → Q4_1/Q5_1 guard applies only with an imatrix.)
      qs.iFfnDown += 1
    } else if category == .attentionOutput {
      if !falcon {
        if nExpert == 8 {
          let bumped: Set<LlamaFileType> = [
            .q2_K, .iq3_xs, .iq3_xxs, .q3_K_S, .q3_K_M, .iq4_nl, .q4_K_S, .q4_K_M, .iq3_s, .iq3_m,
            .iq4_xs,
          ]
          if bumped.contains(ftype) { newType = .q5_K }
        } else {
          switch ftype {
          case .q2_K: newType = .q3_K
          case .iq3_xxs: newType = .iq3_s
          case .q3_K_M: newType = .q4_K
          case .q3_K_L: newType = .q5_K
          case .iq3_m: newType = .q4_K
          default: break
          }
        }
      } else if ftype == .q3_K_L {
        newType = .q4_K
      }
    } else if category == .attentionQKV {
      // Unreachable in upstream too (qkv is attn_v-like above); kept to mirror its shape.
      if ftype == .q3_K_M || ftype == .q3_K_L || ftype == .iq3_m {
        newType = .q4_K
      } else if ftype == .q4_K_M {
        newType = .q5_K
      } else if ftype == .q5_K_M {
        newType = .q6_K
      }
    } else if category == .ffnGate {
      let (i, n) = try layerInfo(qs.iFfnGate, qs.nFfnGate)
      if ftype == .iq3_xs && i >= n / 8 && i < 7 * n / 8 { newType = .iq3_xxs }
      qs.iFfnGate += 1
    } else if category == .ffnUp {
      let (i, n) = try layerInfo(qs.iFfnUp, qs.nFfnUp)
      if ftype == .iq3_xs && i >= n / 8 && i < 7 * n / 8 { newType = .iq3_xxs }
      qs.iFfnUp += 1
    }
    return newType
  }
}
