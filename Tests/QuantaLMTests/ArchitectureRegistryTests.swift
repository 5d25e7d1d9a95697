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
    #expect(names == ["llama", "qwen2", "qwen3", "gemma3"])
    for a in ArchitectureRegistry.all { #expect(ModelConfig.Architecture(rawValue: a.rawValue) == a) }
    #expect(ModelConfig.Architecture(rawValue: "gpt2") == nil)
  }

  @Test("tables and recipes agree", arguments: ArchitectureRegistry.all)
  func consistent(_ a: ArchitectureDeclaration) {
    let required: [TensorRole] = [
      .tokenEmbedding, .outputNorm, .attentionNorm, .query, .key, .value, .attentionOutput,
      .feedForwardNorm, .gate, .up, .down,
    ]
    for role in required { #expect(a.tensor(role)?.presence == .required, "\(a) \(role)") }
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
      let perLayerRole = ![.tokenEmbedding, .ropeFrequencyFactors, .outputNorm, .output].contains(t.role)
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
