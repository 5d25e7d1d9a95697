import Testing

@testable import QuantaLM

/// Every registered declaration is complete and agrees with itself: the shared blocks find the
/// tensors they need, the recipe's variations have their weights, defaults name earlier keys.
@Suite("architecture declarations")
struct ArchitectureRegistryTests {
  @Test("names are unique and resolve through the registry")
  func names() {
    let names = ArchitectureRegistry.all.map(\.rawValue)
    #expect(Set(names).count == names.count)
    #expect(names == ["llama", "qwen2", "qwen3", "gemma3", "phi3", "gemma2", "qwen3moe", "gpt-oss"])
    // Expert variants share a registered name and have experts; the name alone resolves densely.
    for v in ArchitectureRegistry.expertVariants {
      #expect(v.hasExperts && ArchitectureRegistry.named(v.rawValue)?.hasExperts == false)
      #expect(ArchitectureRegistry.named(v.rawValue, experts: true) == v)
    }
    for a in ArchitectureRegistry.all { #expect(ModelConfig.Architecture(rawValue: a.rawValue) == a) }
    #expect(ModelConfig.Architecture(rawValue: "gpt2") == nil)
  }

  @Test("tables and recipes agree", arguments: ArchitectureRegistry.all + ArchitectureRegistry.expertVariants)
  func consistent(_ a: ArchitectureDeclaration) {
    let required: [TensorRole] = [
      .tokenEmbedding, .outputNorm, .attentionNorm, .attentionOutput, .feedForwardNorm,
    ]
    for role in required { #expect(a.tensor(role)?.presence == .required, "\(a) \(role)") }
    // The FFN: dense (down, and gate/up below) or a mixture of experts (router and stacked
    // matrices, with the expert counts read), never both.
    let experts: [TensorRole] = [.expertRouter, .expertGate, .expertUp, .expertDown]
    if a.hasExperts {
      for role in experts { #expect(a.tensor(role)?.presence == .required, "\(a) \(role)") }
      for role in [TensorRole.down, .gate, .up, .gateUp] { #expect(a.tensor(role) == nil, "\(a) \(role)") }
      for key in [Hyperparameter.expertCount, .expertUsedCount] { #expect(a.declaration(of: key) != nil) }
    } else {
      #expect(a.tensor(.down)?.presence == .required, "\(a) down")
      for role in experts { #expect(a.tensor(role) == nil, "\(a) \(role)") }
    }
    // Q/K/V and gate/up: separate matrices, or one fused matrix the loader splits (never both).
    for (parts, fused) in [
      ([TensorRole.query, .key, .value], TensorRole.queryKeyValue), ([.gate, .up], .gateUp),
    ] where !(a.hasExperts && fused == .gateUp) {
      if a.tensor(fused) != nil {
        #expect(a.tensor(fused)?.presence == .required, "\(a) \(fused)")
        for role in parts { #expect(a.tensor(role) == nil, "\(a) has \(role) and \(fused)") }
      } else {
        for role in parts { #expect(a.tensor(role)?.presence == .required, "\(a) \(role)") }
      }
    }
    #expect(
      a.tensor(.output)?.presence == .tiedTo(.tokenEmbedding) || a.tensor(.output)?.presence == .required)
    let names = a.tensors.map(\.name)
    #expect(Set(names).count == names.count, "\(a): a tensor named twice")
    #expect(Set(a.tensors.map(\.role)).count == a.tensors.count, "\(a): a role declared twice")
    for role in [TensorRole.queryNorm, .keyNorm] {
      #expect((a.tensor(role)?.presence == .required) == a.recipe.qkNorm, "\(a) \(role)")
    }
    for role in [TensorRole.postAttentionNorm, .postFeedForwardNorm] {
      #expect((a.tensor(role)?.presence == .required) == (a.recipe.norms == .sandwich), "\(a) \(role)")
    }
    // Per-layer tensors are layer-local, the others model-wide.
    for t in a.tensors {
      let perLayerRole = ![
        .tokenEmbedding, .ropeFrequencyFactors, .ropeFactorsLong, .ropeFactorsShort, .outputNorm, .output,
      ].contains(t.role)
      #expect(t.isPerLayer == perLayerRole, "\(a) \(t.name)")
    }
    // Every key a default names is read before it; the structural keys are read.
    var seen: Set<Hyperparameter> = []
    for h in a.hyperparameters {
      switch h.absent {
      case .sameAs(let k): #expect(seen.contains(k), "\(a) \(h.key)")
      case .quotient(let x, let y): #expect(seen.contains(x) && seen.contains(y), "\(a) \(h.key)")
      default: break
      }
      seen.insert(h.key)
    }
    let structural: [Hyperparameter] = [
      .blockCount, .embeddingLength, .feedForwardLength, .headCount, .headCountKV, .keyLength, .valueLength,
      .contextLength, .rmsEpsilon, .ropeDimensionCount, .ropeFreqBase,
    ]
    for k in structural { #expect(seen.contains(k), "\(a) \(k)") }
    #expect(seen.contains(.slidingWindow) == (a.recipe.slidingWindow != nil))
  }

  @Test("file order expands each per-layer run once per layer")
  func fileOrder() {
    let names = ArchitectureDeclaration.gemma3.fileOrder(layerCount: 2).map(\.name)
    #expect(names.first == "token_embd.weight" && names.last == "output.weight")
    #expect(names[1] == "blk.0.attn_norm.weight" && names.contains("blk.1.post_ffw_norm.weight"))
    #expect(names.count == 2 + 2 * (ArchitectureDeclaration.gemma3.tensors.count - 3) + 1)
  }
}

/// The fused widths and the recipes' layer patterns, from the models' published shapes.
@Suite("phi3 and gemma2 declarations")
struct Phi3Gemma2DeclarationTests {
  @Test("fused widths: Phi-3-mini's qkv_proj is 9216 rows, its gate_up_proj 16384")
  func fusedWidths() {
    let mini = ModelDimensions(
      embedding: 3072, vocabulary: 32064, feedForward: 8192, headCount: 32, kvHeadCount: 32, headDim: 96,
      valueDim: 96, ropeDimensions: 96)
    #expect(mini.size(.queryKeyValueWidth) == 9216 && mini.size(.gateUpWidth) == 16384)
    // GQA: 4 query heads and 2 KV heads of 32 → 128 + 64 + 64.
    let gqa = ModelDimensions(
      embedding: 128, vocabulary: 1, feedForward: 1, headCount: 4, kvHeadCount: 2, headDim: 32, valueDim: 32,
      ropeDimensions: 32)
    #expect(gqa.size(.queryKeyValueWidth) == 256)
    #expect(ArchitectureDeclaration.phi3.tensor(.queryKeyValue)?.shape == [.embedding, .queryKeyValueWidth])
    #expect(ArchitectureDeclaration.phi3.tensor(.gateUp)?.name == "blk.%d.ffn_up.weight")
  }

  @Test("gemma2: every 2nd layer is global, soft-caps default to 50 and 30; phi3 slides every layer")
  func recipes() {
    let g = ArchitectureDeclaration.gemma2
    #expect(g.recipe.slidingWindow?.pattern == 2 && g.recipe.slidingWindow?.ropeFreqBase == nil)
    guard case .value(let attn) = g.declaration(of: .attentionLogitSoftcap)?.absent,
      case .value(let final) = g.declaration(of: .finalLogitSoftcap)?.absent,
      case .value(let window) = g.declaration(of: .slidingWindow)?.absent
    else {
      Issue.record("gemma2's soft-caps and window need defaults")
      return
    }
    #expect(attn == 50 && final == 30 && window == 4096)
    #expect(g.recipe.queryScaleByBlockCount[46] == .inverseSqrtEmbeddingPerHead)
    #expect(ArchitectureDeclaration.phi3.recipe.slidingWindow?.pattern == 0)
  }
}
