import Foundation
import QuantaLM
import Testing

@testable import QuantaQuantize
@testable import QuantaTools

/// `quanta run`'s flag mapping, its closing statistics, and both modes on the real model.
@Suite struct RunTests {
  @Test func defaultsAreLlamaCpps() {
    let s = ModelSettings()
    let o = s.generationOptions(seed: 42)
    #expect(o.maxTokens == -1)
    #expect(o.sampling.temperature == 0.8)
    #expect(o.sampling.topK == 40)
    #expect(o.sampling.topP == 0.95)
    #expect(o.sampling.minP == 0.05)
    #expect(o.sampling.repeatPenalty == 1.0)
    #expect(o.sampling.repeatLastN == 64)
    #expect(o.sampling.seed == 42)
    #expect(s.loadOptions().contextLength == 4096)
    #expect(s.modelPath == nil)
    #expect(s.device == "cpu")
  }

  /// `-c` above the training context: a warning as llama.cpp gives, naming what the loader used.
  @Test func contextAboveTrainingWarns() {
    var s = ModelSettings()
    s.contextSize = 100_000_000
    #expect(
      s.contextWarning(trainedContext: 512, used: 512)
        == "warning: -c 100000000 is more than the model's training context of 512 tokens; using 512\n")
    s.contextSize = 512
    #expect(s.contextWarning(trainedContext: 512, used: 512) == nil)
    s.contextSize = 0  // 0 asks for the training context: nothing to warn about
    #expect(s.contextWarning(trainedContext: 512, used: 512) == nil)
  }

  @Test func flagsMapIntoOptions() throws {
    var s = ModelSettings()
    s.temperature = 0
    s.topK = 1
    s.topP = 0.5
    s.minP = 0
    s.repeatPenalty = 1.1
    s.maxTokens = 7
    s.contextSize = 0
    s.batchSize = 64
    s.seed = 123
    #expect(s.resolvedSeed() == 123)
    let o = s.generationOptions(seed: s.resolvedSeed())
    #expect(o.maxTokens == 7 && o.sampling.temperature == 0 && o.sampling.topK == 1)
    #expect(o.sampling.topP == 0.5 && o.sampling.minP == 0 && o.sampling.repeatPenalty == 1.1)
    #expect(s.loadOptions().contextLength >= 1 << 20)  // 0 = the model's own context (capped at load)
    #expect(s.loadOptions().batchSize == 64)
    s.seed = -1
    #expect(s.resolvedSeed() < UInt64(UInt32.max))
    s.threads = 0
    #expect(throws: QuantaToolError.invalidThreadCount(0)) { try s.validate() }
  }

  @Test func statsLinesHaveCountsAndRates() {
    var totals = RunTotals()
    totals.add(
      GenerationSummary(
        promptTokens: 6, generatedTokens: 11, tokenIDs: [], promptSeconds: 0.5, generationSeconds: 2,
        stopReason: .maxTokens))
    #expect(totals.evalTokens == 10)  // the first token comes from the prompt's logits
    let text = totals.lines(loadSeconds: 0.25)
    #expect(
      text == """
        load time:       250.00 ms
        prompt eval:     500.00 ms /     6 tokens, 12.00 t/s
        eval:           2000.00 ms /    10 runs,   5.00 t/s

        """)
  }

  func loadGemma(context: Int = 256) async throws -> LanguageModel {
    var s = ModelSettings()
    s.modelPath = try RunTestModels.gemma3()
    s.contextSize = context
    return try await s.loadModel().model
  }

  @Test func completionStreamsTheGreedyContinuation() async throws {
    let model = try await loadGemma()
    var s = ModelSettings()
    s.temperature = 0
    s.maxTokens = 4
    var pieces: [String] = []
    let summary = try await ModelRun.complete(
      model: model, prompt: "The capital of France is", options: s.generationOptions(seed: 1),
      output: { pieces.append($0) })
    #expect(summary.generatedTokens == 4)
    // ../shared/testdata/gemma3-270m/greedy.txt begins " the capital of the".
    let reference = try String(
      contentsOfFile: try RunTestModels.sharedFile("testdata/gemma3-270m/greedy.txt"), encoding: .utf8)
    // The line is "OUTPUT: " followed by the continuation (which itself starts with a space).
    let output = String((reference.components(separatedBy: "OUTPUT:").last ?? "").dropFirst())
    #expect(output.hasPrefix(pieces.joined()))
    #expect(pieces.joined() == " the capital of the")
  }

  @Test func chatReadsTurnsUntilExit() async throws {
    let model = try await loadGemma()
    var s = ModelSettings()
    s.temperature = 0
    s.maxTokens = 3
    var lines = ["Say hello.", "", "/exit", "never read"]
    var out = ""
    var prompts = 0
    var notes = ""
    let totals = try await ModelRun.chat(
      model: model, system: nil, options: s.generationOptions(seed: 1),
      readLine: { lines.isEmpty ? nil : lines.removeFirst() }, output: { out += $0 },
      prompt: {
        if $0 == "> " { prompts += 1 } else { notes += $0 }
      })
    #expect(lines == ["never read"])
    #expect(prompts == 3)
    // The default (base) model has no chat template: one line says which format stands in.
    #expect(
      notes
        == "warning: the model has no tokenizer.chat_template (a base model, such as the default Gemma 3 270M, "
        + "has none); using the built-in gemma format, gemma3's usual one\n",
      "\(notes)")
    // One turn of at most 3 tokens, then the newline that closes the reply.
    #expect(out.hasSuffix("\n") && out.count > 1)
    #expect(totals.promptTokens > 5)  // the rendered gemma turn, not the bare text
    #expect(totals.evalTokens <= 2)
  }
}
