import Testing

@testable import QuantaLM

@Suite struct SamplerTests {
  @Test func greedyPicksArgmax() {
    var s = Sampler(.greedy)
    #expect(s.sample([0.1, 3, -2, 2.9]) == 1)
  }

  @Test func sameSeedSameTokens() {
    var o = SamplingOptions()
    o.temperature = 1.0
    o.topK = 0
    o.topP = 1
    o.minP = 0
    o.seed = 42
    let logits: [Float] = (0..<50).map { Float($0 % 7) * 0.3 }
    var a = Sampler(o)
    var b = Sampler(o)
    let x = (0..<20).map { _ in a.sample(logits) }
    let y = (0..<20).map { _ in b.sample(logits) }
    #expect(x == y)
    #expect(Set(x).count > 1)  // it really samples
    o.seed = 43
    var c = Sampler(o)
    #expect((0..<20).map { _ in c.sample(logits) } != x)
  }

  @Test func topKOneIsGreedy() {
    var o = SamplingOptions()
    o.topK = 1
    o.seed = 7
    var s = Sampler(o)
    for _ in 0..<10 { #expect(s.sample([1, 5, 2]) == 1) }
  }

  @Test func minPDropsUnlikelyTokens() {
    var o = SamplingOptions()
    o.topK = 0
    o.topP = 1
    o.minP = 0.5
    o.temperature = 1
    o.seed = 1
    var s = Sampler(o)
    // Token 2 has probability far below half of token 0's: never drawn.
    for _ in 0..<200 { #expect(s.sample([5, 4.9, 0]) != 2) }
  }

  @Test func repeatPenaltyDemotesSeenTokens() {
    var o = SamplingOptions.greedy
    o.repeatPenalty = 2
    var s = Sampler(o)
    s.accept(0)
    // 3 / 2 = 1.5 < 2: token 1 wins once token 0 is penalized.
    #expect(s.sample([3, 2, -1]) == 1)
  }
}

@Suite struct ChatTemplateTests {
  @Test func detectsFamiliesWithoutEvaluating() {
    #expect(ChatTemplate.detect(template: "{% for m in messages %}<start_of_turn>{{ m.role }}") == .gemma)
    #expect(ChatTemplate.detect(template: "{{'<|im_start|>' + message['role']}}") == .chatml)
    #expect(ChatTemplate.detect(template: "<|start_header_id|>") == .llama3)
    #expect(ChatTemplate.detect(template: "[INST] {{ x }}") == .llama2)
    // A hostile template is data: nothing recognized, nothing run.
    #expect(ChatTemplate.detect(template: "{{ ''.__class__.__mro__[1].__subclasses__() }}") == nil)
  }

  @Test func rendersGemmaTurns() {
    let text = ChatTemplate.gemma.render([.init(.system, "Be brief."), .init(.user, "Hi")])
    #expect(text == "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n")
  }

  @Test func rendersChatML() {
    let text = ChatTemplate.chatml.render([
      .init(.user, "Hi"), .init(.assistant, "Hello"), .init(.user, "Bye"),
    ])
    #expect(
      text
        == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"
    )
  }
}
