import GGML
import Testing

@testable import QuantaQuantize
@testable import QuantaTools

/// A llama-shaped tensor list: `layers` blocks of attention + FFN, norms, embeddings, output.
func llamaTensors(layers: Int, columns: Int = 256, tiedOutput: Bool = false) -> [TensorDescriptor] {
  var out: [TensorDescriptor] = [
    TensorDescriptor(name: "token_embd.weight", type: .f32, shape: [columns, 512]),
    TensorDescriptor(name: "output_norm.weight", type: .f32, shape: [columns]),
  ]
  if !tiedOutput {
    out.append(TensorDescriptor(name: "output.weight", type: .f32, shape: [columns, 512]))
  }
  for i in 0..<layers {
    for (name, shape) in [
      ("attn_norm.weight", [columns]), ("attn_q.weight", [columns, columns]),
      ("attn_k.weight", [columns, 64]),
      ("attn_v.weight", [columns, 64]), ("attn_output.weight", [columns, columns]),
      ("ffn_norm.weight", [columns]), ("ffn_gate.weight", [columns, 512]), ("ffn_up.weight", [columns, 512]),
      ("ffn_down.weight", [512, columns]),
    ] {
      out.append(TensorDescriptor(name: "blk.\(i).\(name)", type: .f32, shape: shape))
    }
  }
  return out
}

func types(_ plan: QuantizationPlan) -> [String: GGMLType] {
  Dictionary(uniqueKeysWithValues: plan.tensors.map { ($0.name, $0.targetType) })
}

/// Layers (of `n`) whose attn_v / ffn_down get more bits in the _M mixes, written out by hand from
/// upstream's use_more_bits: i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2.
let moreBitsLayers8: Set<Int> = [0, 3, 6, 7]

let llama8 = ModelFacts(architecture: "llama", layerCount: 8, headCount: 8, headCountKV: 8)

@Suite("Tensor type planner")
struct PlannerTests {
  @Test("Q4_K_M: attn_v and ffn_down Q6_K on use_more_bits layers, output Q6_K, 1-D F32")
  func q4KM() throws {
    let plan = try TensorTypePlanner.plan(tensors: llamaTensors(layers: 8), facts: llama8, fileType: .q4_K_M)
    let t = types(plan)
    #expect(t["output.weight"] == .q6_K)
    #expect(t["token_embd.weight"] == .q4_K)
    #expect(t["output_norm.weight"] == .f32)
    for i in 0..<8 {
      let more: GGMLType = moreBitsLayers8.contains(i) ? .q6_K : .q4_K
      #expect(t["blk.\(i).attn_v.weight"] == more, "layer \(i) attn_v")
      #expect(t["blk.\(i).ffn_down.weight"] == more, "layer \(i) ffn_down")
      #expect(t["blk.\(i).attn_q.weight"] == .q4_K)
      #expect(t["blk.\(i).attn_k.weight"] == .q4_K)
      #expect(t["blk.\(i).attn_output.weight"] == .q4_K)
      #expect(t["blk.\(i).ffn_gate.weight"] == .q4_K)
      #expect(t["blk.\(i).ffn_up.weight"] == .q4_K)
      #expect(t["blk.\(i).attn_norm.weight"] == .f32)
      #expect(t["blk.\(i).ffn_norm.weight"] == .f32)
    }
    #expect(plan.fallbackCount == 0)
  }

  @Test("Q5_K_M mirrors Q4_K_M with a Q5_K base")
  func q5KM() throws {
    let t = types(
      try TensorTypePlanner.plan(tensors: llamaTensors(layers: 8), facts: llama8, fileType: .q5_K_M))
    #expect(t["output.weight"] == .q6_K)
    for i in 0..<8 {
      let more: GGMLType = moreBitsLayers8.contains(i) ? .q6_K : .q5_K
      #expect(t["blk.\(i).attn_v.weight"] == more)
      #expect(t["blk.\(i).ffn_down.weight"] == more)
      #expect(t["blk.\(i).attn_q.weight"] == .q5_K)
    }
  }

  @Test("Q4_K_S: first 4 attn_v and first n/8 ffn_down Q5_K")
  func q4KS() throws {
    let t = types(
      try TensorTypePlanner.plan(tensors: llamaTensors(layers: 8), facts: llama8, fileType: .q4_K_S))
    #expect(t["output.weight"] == .q6_K)
    for i in 0..<8 {
      #expect(t["blk.\(i).attn_v.weight"] == (i < 4 ? .q5_K : .q4_K))
      #expect(t["blk.\(i).ffn_down.weight"] == (i < 1 ? .q5_K : .q4_K))
    }
  }

  @Test("Q5_K_S, Q6_K, Q3_K_S: one type everywhere, output Q6_K")
  func uniformKMixes() throws {
    for (mix, base) in [(LlamaFileType.q5_K_S, GGMLType.q5_K), (.q6_K, .q6_K), (.q3_K_S, .q3_K)] {
      let t = types(
        try TensorTypePlanner.plan(tensors: llamaTensors(layers: 8), facts: llama8, fileType: mix))
      #expect(t["output.weight"] == .q6_K, "\(mix)")
      #expect(t["token_embd.weight"] == base, "\(mix)")
      for i in 0..<8 {
        #expect(t["blk.\(i).attn_v.weight"] == base, "\(mix)")
        #expect(t["blk.\(i).ffn_down.weight"] == base, "\(mix)")
      }
    }
  }

  @Test("Q3_K_M: attn_v Q5_K for the first two, ffn_down Q5_K below n/16, attn_output Q4_K")
  func q3KM() throws {
    let facts = ModelFacts(architecture: "llama", layerCount: 32, headCount: 32, headCountKV: 32)
    let t = types(
      try TensorTypePlanner.plan(tensors: llamaTensors(layers: 32), facts: facts, fileType: .q3_K_M))
    for i in 0..<32 {
      #expect(t["blk.\(i).attn_v.weight"] == (i < 2 ? .q5_K : .q4_K))
      #expect(t["blk.\(i).ffn_down.weight"] == (i < 2 ? .q5_K : .q4_K))
      #expect(t["blk.\(i).attn_output.weight"] == .q4_K)
      #expect(t["blk.\(i).attn_q.weight"] == .q3_K)
    }
    #expect(t["output.weight"] == .q6_K)
  }

  @Test("Q3_K_L: attn_v, ffn_down, attn_output Q5_K")
  func q3KL() throws {
    let t = types(
      try TensorTypePlanner.plan(tensors: llamaTensors(layers: 8), facts: llama8, fileType: .q3_K_L))
    #expect(t["blk.5.attn_v.weight"] == .q5_K)
    #expect(t["blk.5.ffn_down.weight"] == .q5_K)
    #expect(t["blk.5.attn_output.weight"] == .q5_K)
    #expect(t["blk.5.ffn_up.weight"] == .q3_K)
  }

  @Test("Q2_K: attn_v Q3_K (Q4_K with GQA ≥ 4), ffn_down and attn_output Q3_K")
  func q2K() throws {
    var t = types(
      try TensorTypePlanner.plan(tensors: llamaTensors(layers: 8), facts: llama8, fileType: .q2_K))
    #expect(t["blk.0.attn_v.weight"] == .q3_K)
    #expect(t["blk.0.ffn_down.weight"] == .q3_K)
    #expect(t["blk.0.attn_output.weight"] == .q3_K)
    #expect(t["blk.0.attn_q.weight"] == .q2_K)
    #expect(t["output.weight"] == .q6_K)
    let gqa = ModelFacts(architecture: "llama", layerCount: 8, headCount: 32, headCountKV: 8)
    t = types(try TensorTypePlanner.plan(tensors: llamaTensors(layers: 8), facts: gqa, fileType: .q2_K))
    #expect(t["blk.0.attn_v.weight"] == .q4_K)
  }

  @Test("Legacy mixes: Q4_0/Q4_1/Q5_0/Q5_1 everywhere, output Q6_K; Q8_0 keeps output Q8_0")
  func legacyMixes() throws {
    for (mix, base) in [
      (LlamaFileType.q4_0, GGMLType.q4_0), (.q4_1, .q4_1), (.q5_0, .q5_0), (.q5_1, .q5_1),
    ] {
      let t = types(
        try TensorTypePlanner.plan(tensors: llamaTensors(layers: 8), facts: llama8, fileType: mix))
      #expect(t["output.weight"] == .q6_K, "\(mix)")
      #expect(t["blk.0.attn_v.weight"] == base, "\(mix)")
      #expect(t["blk.0.ffn_down.weight"] == base, "\(mix)")
      #expect(t["token_embd.weight"] == base, "\(mix)")
    }
    let t = types(
      try TensorTypePlanner.plan(tensors: llamaTensors(layers: 8), facts: llama8, fileType: .q8_0))
    #expect(t["output.weight"] == .q8_0)
    #expect(t["blk.3.attn_v.weight"] == .q8_0)
  }

  @Test("F16 / BF16 / F32: every 2-D weight in the float type, no mix rules, norms stay F32")
  func floatMixes() throws {
    for (mix, base) in [(LlamaFileType.mostlyF16, GGMLType.f16), (.mostlyBF16, .bf16), (.allF32, .f32)] {
      let t = types(
        try TensorTypePlanner.plan(tensors: llamaTensors(layers: 8), facts: llama8, fileType: mix))
      #expect(t["output.weight"] == base)
      #expect(t["token_embd.weight"] == base)
      #expect(t["blk.0.attn_v.weight"] == base)
      #expect(t["blk.0.attn_norm.weight"] == .f32)
    }
  }

  @Test("IQ4_NL / IQ4_XS: ffn_down Q5_K below n/8, attn_v Q5_K only with GQA ≥ 4")
  func iq4Mixes() throws {
    let gqa = ModelFacts(architecture: "llama", layerCount: 16, headCount: 32, headCountKV: 8)
    for (mix, base) in [(LlamaFileType.iq4_nl, GGMLType.iq4_nl), (.iq4_xs, .iq4_xs)] {
      var t = types(try TensorTypePlanner.plan(tensors: llamaTensors(layers: 16), facts: gqa, fileType: mix))
      #expect(t["blk.0.ffn_down.weight"] == .q5_K)
      #expect(t["blk.1.ffn_down.weight"] == .q5_K)
      #expect(t["blk.2.ffn_down.weight"] == base)
      #expect(t["blk.9.attn_v.weight"] == .q5_K)
      #expect(t["blk.9.attn_q.weight"] == base)
      #expect(t["output.weight"] == .q6_K)
      let mha = ModelFacts(architecture: "llama", layerCount: 16, headCount: 32, headCountKV: 32)
      t = types(try TensorTypePlanner.plan(tensors: llamaTensors(layers: 16), facts: mha, fileType: mix))
      #expect(t["blk.9.attn_v.weight"] == base)
    }
  }

  @Test("Tied embeddings: without output.weight, token_embd gets the output rule")
  func tiedEmbeddings() throws {
    let t = types(
      try TensorTypePlanner.plan(
        tensors: llamaTensors(layers: 8, tiedOutput: true), facts: llama8, fileType: .q4_K_M))
    #expect(t["token_embd.weight"] == .q6_K)
    #expect(t["output.weight"] == nil)
  }

  @Test("--pure: every quantizable tensor in the base type, output and attn_v included")
  func pure() throws {
    let plan = try TensorTypePlanner.plan(
      tensors: llamaTensors(layers: 8), facts: llama8, fileType: .q4_K_M, pure: true)
    for t in plan.tensors {
      #expect(t.targetType == (t.shape.count == 1 ? .f32 : .q4_K), "\(t.name)")
    }
  }

  @Test("Row length not a multiple of the block: upstream's fallback table, then F16")
  func fallback() throws {
    let tensors = [
      TensorDescriptor(name: "blk.0.attn_q.weight", type: .f32, shape: [96, 4]),  // 96 % 256 ≠ 0, % 32 = 0
      TensorDescriptor(name: "blk.0.attn_k.weight", type: .f32, shape: [40, 4]),  // not even 32
      TensorDescriptor(name: "output.weight", type: .f32, shape: [96, 4]),
    ]
    let facts = ModelFacts(architecture: "llama", layerCount: 1)
    var t = types(try TensorTypePlanner.plan(tensors: tensors, facts: facts, fileType: .q4_K_S))
    #expect(t["blk.0.attn_q.weight"] == .q5_0)
    #expect(t["blk.0.attn_k.weight"] == .f16)
    #expect(t["output.weight"] == .q8_0)  // the output rule's own `nx % qk_k` branch
    t = types(try TensorTypePlanner.plan(tensors: tensors, facts: facts, fileType: .q6_K))
    #expect(t["blk.0.attn_q.weight"] == .q8_0)
    t = types(try TensorTypePlanner.plan(tensors: tensors, facts: facts, fileType: .q5_K_S))
    #expect(t["blk.0.attn_q.weight"] == .q5_1)
    t = types(try TensorTypePlanner.plan(tensors: tensors, facts: facts, fileType: .q3_K_S))
    #expect(t["blk.0.attn_q.weight"] == .q4_0)
    t = types(try TensorTypePlanner.plan(tensors: tensors, facts: facts, fileType: .iq4_xs))
    #expect(t["blk.0.attn_q.weight"] == .iq4_nl)
    let plan = try TensorTypePlanner.plan(tensors: tensors, facts: facts, fileType: .q4_K_S)
    #expect(plan.tensors.first { $0.name == "blk.0.attn_q.weight" }?.fallbackFrom == .q4_K)
    // Q4_0 has no fallback upstream: a 40-column tensor is an error, not a crash.
    #expect(throws: QuantaToolError.noFallback(type: .q4_0, tensor: "blk.0.attn_k.weight", columns: 40)) {
      try TensorTypePlanner.plan(tensors: tensors, facts: facts, fileType: .q4_0)
    }
  }

  @Test("Unquantized: 1-D, [n, 1], norms, expert gate, position embeddings, non-weights")
  func keptTensors() throws {
    let tensors = [
      TensorDescriptor(name: "blk.0.ffn_gate_inp.weight", type: .f32, shape: [256, 8]),
      TensorDescriptor(name: "blk.0.attn_q_norm.weight", type: .f32, shape: [256, 2]),
      TensorDescriptor(name: "position_embd.weight", type: .f32, shape: [256, 8]),
      TensorDescriptor(name: "blk.0.attn_q.bias", type: .f32, shape: [256, 2]),
      TensorDescriptor(name: "blk.0.column.weight", type: .f32, shape: [256, 1]),
      TensorDescriptor(name: "blk.0.unknown_proj.weight", type: .f16, shape: [256, 8]),
    ]
    let t = types(try TensorTypePlanner.plan(tensors: tensors, facts: ModelFacts(), fileType: .q4_K_M))
    #expect(t["blk.0.ffn_gate_inp.weight"] == .f32)
    #expect(t["blk.0.attn_q_norm.weight"] == .f32)
    #expect(t["position_embd.weight"] == .f32)
    #expect(t["blk.0.attn_q.bias"] == .f32)
    #expect(t["blk.0.column.weight"] == .f32)
    #expect(t["blk.0.unknown_proj.weight"] == .q4_K)  // unknown names get the base type
  }

  @Test("Order: non-layer tensors first, then by layer number (blk.10 after blk.9), then name")
  func order() throws {
    let names = [
      "blk.10.attn_v.weight", "blk.9.attn_v.weight", "output.weight", "blk.2.attn_q.weight",
      "blk.2.attn_k.weight",
    ]
    let plan = try TensorTypePlanner.plan(
      tensors: names.map { TensorDescriptor(name: $0, type: .f32, shape: [256, 4]) }, facts: ModelFacts(),
      fileType: .q8_0)
    #expect(
      plan.tensors.map(\.name) == [
        "output.weight", "blk.2.attn_k.weight", "blk.2.attn_q.weight", "blk.9.attn_v.weight",
        "blk.10.attn_v.weight",
      ])
  }

  @Test("Mixes that need an importance matrix are refused with the tensor named")
  func importanceMatrix() throws {
    #expect(throws: QuantaToolError.requiresImportanceMatrix(tensor: "blk.0.attn_q.weight", type: .iq2_xxs)) {
      try TensorTypePlanner.plan(
        tensors: [TensorDescriptor(name: "blk.0.attn_q.weight", type: .f32, shape: [256, 4])],
        facts: ModelFacts(layerCount: 1), fileType: .iq2_xxs)
    }
  }

  @Test("MoE: ffn_down layer comes from the name; a name without blk.N is an error")
  func moeLayers() throws {
    let facts = ModelFacts(architecture: "llama", layerCount: 8, headCount: 8, headCountKV: 8, expertCount: 4)
    let tensors = (0..<8).map {
      TensorDescriptor(name: "blk.\($0).ffn_down_exps.weight", type: .f32, shape: [256, 8, 4])
    }
    let t = types(try TensorTypePlanner.plan(tensors: tensors, facts: facts, fileType: .q4_K_M))
    for i in 0..<8 {
      #expect(t["blk.\(i).ffn_down_exps.weight"] == (moreBitsLayers8.contains(i) ? .q6_K : .q4_K))
    }
    #expect(throws: QuantaToolError.layerUnknown(tensor: "x.ffn_down.weight", layerCount: 8)) {
      try TensorTypePlanner.plan(
        tensors: [TensorDescriptor(name: "x.ffn_down.weight", type: .f32, shape: [256, 8])], facts: facts,
        fileType: .q4_K_M)
    }
  }

  @Test("File type names, aliases and numbers parse like llama-quantize; values are llama.cpp's")
  func fileTypes() throws {
    #expect(LlamaFileType(argument: "q4_k_m") == .q4_K_M)
    #expect(LlamaFileType(argument: "Q4_K") == .q4_K_M)
    #expect(LlamaFileType(argument: "iq4_xs") == .iq4_xs)
    #expect(LlamaFileType(argument: "bf16") == .mostlyBF16)
    #expect(LlamaFileType(argument: "15") == .q4_K_M)
    #expect(LlamaFileType(argument: "Q9_Z") == nil)
    #expect(LlamaFileType.q4_K_M.rawValue == 15)
    #expect(LlamaFileType.q8_0.rawValue == 7)
    #expect(LlamaFileType.mostlyF16.rawValue == 1)
    #expect(LlamaFileType.mostlyBF16.rawValue == 32)
    #expect(LlamaFileType.iq4_nl.rawValue == 25)
    #expect(LlamaFileType.q4_K_M.name == "Q4_K_M")
    #expect(throws: QuantaToolError.unknownQuantizationType("Q9_Z")) {
      try QuantizeOptions.fileType(from: "Q9_Z")
    }
  }
}
