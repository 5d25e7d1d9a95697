import Foundation
import QuantaLM
import Synchronization
import Testing

@testable import QuantaServer

/// The slot scheduler without HTTP: interleaved slots give each request what a session alone
/// gives, prefix reuse skips the shared prefix and changes nothing, cancellation frees the slot.
@Suite struct SchedulerTests {
  func greedy(_ model: LanguageModel, banEnd: Bool = false) -> SamplingOptions {
    var s = SamplingOptions.greedy
    if banEnd { for t in model.endOfGenerationTokens { s.logitBias[t] = -.infinity } }
    return s
  }

  /// Four requests on two slots (prefilled in 16-token chunks, interleaved token by token) each
  /// get exactly the library's greedy continuation of their own prompt.
  @Test func interleavedSlotsMatchSequentialGeneration() async throws {
    let model = try await TestModel.load(context: 256)
    let scheduler = try Scheduler(model: model, slots: 2, queueCapacity: 8, prefillChunk: 16)
    let prompts = [
      "A long prompt that needs several prefill chunks of sixteen tokens each, to interleave with the others",
      "Short", "Another prompt", "The fourth one, a little longer than the others",
    ].map { model.tokenizer.encode($0, addSpecial: true) }
    let submissions = try prompts.map {
      try scheduler.submit(SlotRequest(promptTokens: $0, maxTokens: 16, sampling: greedy(model)))
    }
    let results = try await withThrowingTaskGroup(of: (Int, String, SlotResult).self) { group in
      for (i, s) in submissions.enumerated() {
        group.addTask {
          let (t, r) = try await collect(s)
          return (i, t, r)
        }
      }
      var out: [Int: (String, SlotResult)] = [:]
      for try await (i, t, r) in group { out[i] = (t, r) }
      return out
    }
    #expect(Set(results.values.map(\.1.slot)) == [0, 1])
    for (i, prompt) in prompts.enumerated() {
      let reference = try await referenceGreedy(model, prompt: prompt, maxTokens: 16)
      let (text, result) = try #require(results[i])
      #expect(text == reference.text, "request \(i)")
      #expect(result.completionTokens == reference.summary.generatedTokens)
      #expect(result.promptTokens == prompt.count)
    }
    #expect(scheduler.stats.busySlots == 0)
    await scheduler.shutdown()
  }

  /// A long prompt arriving while another request streams is prefilled a chunk per round, with the
  /// streaming slot decoding a token between each two chunks: the stream never waits for the
  /// whole prompt.
  @Test func longPromptDoesNotStallAStream() async throws {
    let model = try await TestModel.load(context: 256)
    // Both queued before the worker starts, so both are admitted in its first round.
    let scheduler = try Scheduler(
      model: model, slots: 2, queueCapacity: 2, prefillChunk: 16, metrics: ServerMetrics(), recordSteps: true,
      startPaused: true)
    let short = model.tokenizer.encode("Stream", addSpecial: true)
    let streaming = try scheduler.submit(
      SlotRequest(promptTokens: short, maxTokens: 40, sampling: greedy(model, banEnd: true)))
    // A prompt of 160 tokens (about 10 chunks).
    let long = [model.tokenizer.vocabulary.bos ?? 1] + [Int32](repeating: 9, count: 159)
    let laterSubmission = try scheduler.submit(
      SlotRequest(promptTokens: long, maxTokens: 1, sampling: greedy(model)))
    scheduler.resume()
    let later = try await collect(laterSubmission)
    _ = try await collect(streaming)
    #expect(later.result.cachedTokens == 0)
    let steps = try #require(scheduler.stepLog?.withLock { $0 })
    let prefills = steps.indices.filter { steps[$0].prefill && steps[$0].slot == later.result.slot }
    // The first round prefills both prompts in one pass, sharing its 16 rows: the short prompt's
    // tokens, the long one the rest; then 16 per round.
    let firstChunk = 16 - short.count
    #expect(prefills.count == 1 + (long.count - firstChunk + 15) / 16)
    // A round runs the prefill chunks and the decoding slots' tokens: between two chunks of the
    // long prompt the other slot took at most one step, and it decoded a token in every round after
    // its own prompt's chunk (8 of the 9 gaps), so the stream advanced while the prompt went in.
    for (a, b) in zip(prefills, prefills.dropFirst()) {
      let between = Array(steps[(a + 1)..<b])
      #expect(between.count <= 1 && between.allSatisfy { $0.slot != later.result.slot })
    }
    let decodedDuringPrompt = steps[prefills.first!..<prefills.last!].filter {
      $0.slot != later.result.slot && !$0.prefill
    }
    #expect(decodedDuringPrompt.count >= 8)
    #expect(steps.filter { $0.slot != later.result.slot && !$0.prefill }.count >= 9)
    // Those decode rows went through the same forward pass as a prompt chunk (one weight read per
    // round), not a pass of their own.
    let chunkPasses = Set(prefills.map { steps[$0].pass })
    #expect(decodedDuringPrompt.filter { chunkPasses.contains($0.pass) }.count == decodedDuringPrompt.count)
    #expect(Set(steps.map(\.pass)).count < steps.count)
    await scheduler.shutdown()
  }

  /// A second request that extends the first one's prompt reuses the slot's cached prefix and still
  /// gets the fresh-session result.
  @Test func prefixReuse() async throws {
    let model = try await TestModel.load(context: 256)
    let scheduler = try Scheduler(model: model, slots: 1, queueCapacity: 2, prefillChunk: 8)
    let base = model.tokenizer.encode(
      "A system prompt shared by every request of this conversation.", addSpecial: true)
    let first = try await collect(
      try scheduler.submit(SlotRequest(promptTokens: base, maxTokens: 4, sampling: greedy(model))))
    #expect(first.result.cachedTokens == 0)
    let extended = base + model.tokenizer.encode(" And a question.", addSpecial: false)
    let second = try await collect(
      try scheduler.submit(SlotRequest(promptTokens: extended, maxTokens: 8, sampling: greedy(model))))
    #expect(second.result.cachedTokens >= base.count)
    #expect(second.result.cachedTokens < extended.count)
    let reference = try await referenceGreedy(model, prompt: extended, maxTokens: 8)
    #expect(second.text == reference.text)
    // The same prompt again: everything but its last token comes from the cache.
    let third = try await collect(
      try scheduler.submit(SlotRequest(promptTokens: extended, maxTokens: 8, sampling: greedy(model))))
    #expect(third.result.cachedTokens == extended.count - 1)
    #expect(third.text == reference.text)
    await scheduler.shutdown()
  }

  /// A request is sent to the slot holding its prefix, not to the idle one.
  @Test func prefixPicksTheSlot() async throws {
    let model = try await TestModel.load(context: 256)
    let scheduler = try Scheduler(model: model, slots: 2, queueCapacity: 2, prefillChunk: 64)
    let a = model.tokenizer.encode("Conversation A, first turn, with some words", addSpecial: true)
    let b = model.tokenizer.encode("Conversation B is different", addSpecial: true)
    let ra = try await collect(
      try scheduler.submit(SlotRequest(promptTokens: a, maxTokens: 2, sampling: greedy(model))))
    let rb = try await collect(
      try scheduler.submit(SlotRequest(promptTokens: b, maxTokens: 2, sampling: greedy(model))))
    #expect(ra.result.slot != rb.result.slot)
    let again = try await collect(
      try scheduler.submit(SlotRequest(promptTokens: a + [5, 6, 7], maxTokens: 2, sampling: greedy(model))))
    #expect(again.result.slot == ra.result.slot)
    #expect(again.result.cachedTokens >= a.count)
    await scheduler.shutdown()
  }

  /// Cancelling the task that reads a stream (what happens to a request's handler when its client
  /// goes away) frees its slot for the next request.
  @Test func cancelFreesTheSlot() async throws {
    let model = try await TestModel.load(context: 256)
    let scheduler = try Scheduler(model: model, slots: 1, queueCapacity: 1, prefillChunk: 16)
    let prompt = model.tokenizer.encode("Generate for a long time", addSpecial: true)
    let long = try scheduler.submit(
      SlotRequest(promptTokens: prompt, maxTokens: nil, sampling: greedy(model, banEnd: true)))
    let pieces = Mutex(0)
    let reader = Task {
      for try await event in long.events {
        if case .text = event { pieces.withLock { $0 += 1 } }
      }
    }
    // Wait for the generation to be under way, then stop reading.
    for _ in 0..<1000 where pieces.withLock({ $0 }) < 2 { try await Task.sleep(for: .milliseconds(5)) }
    #expect(pieces.withLock { $0 } >= 2)
    reader.cancel()
    _ = await reader.result
    #expect(await scheduler.waitUntilIdle(timeout: .seconds(10)))
    let next = try await collect(
      try scheduler.submit(SlotRequest(promptTokens: prompt, maxTokens: 3, sampling: greedy(model))))
    #expect(next.result.completionTokens <= 3)
    await scheduler.shutdown()
  }

  @Test func queueFullAndShutdown() async throws {
    let model = try await TestModel.load(context: 256)
    // Paused: nothing is admitted (or finishes) while the queue fills.
    let scheduler = try Scheduler(
      model: model, slots: 1, queueCapacity: 1, prefillChunk: 16, metrics: ServerMetrics(),
      recordSteps: false,
      startPaused: true)
    let prompt = model.tokenizer.encode("Keep going", addSpecial: true)
    let request = SlotRequest(promptTokens: prompt, maxTokens: nil, sampling: greedy(model, banEnd: true))
    let running = try scheduler.submit(request)
    let waiting = try scheduler.submit(request)
    #expect(throws: SchedulerError.queueFull(capacity: 1)) { try scheduler.submit(request) }
    scheduler.beginDrain()
    #expect(throws: SchedulerError.shuttingDown) { try scheduler.submit(request) }
    scheduler.cancelAll()
    scheduler.resume()
    for s in [running, waiting] {
      await #expect(throws: SchedulerError.cancelledByShutdown) {
        for try await _ in s.events {}
      }
    }
    #expect(await scheduler.waitUntilIdle(timeout: .seconds(10)))
    await scheduler.shutdown()
  }

  @Test func invalidRequests() async throws {
    let model = try await TestModel.load(context: 32)
    let scheduler = try Scheduler(model: model, slots: 1, queueCapacity: 1)
    #expect(throws: SchedulerError.emptyPrompt) {
      try scheduler.submit(SlotRequest(promptTokens: [], maxTokens: 1, sampling: .greedy))
    }
    #expect(throws: SchedulerError.promptTooLong(tokens: 33, contextLength: 32)) {
      try scheduler.submit(
        SlotRequest(promptTokens: [Int32](repeating: 5, count: 33), maxTokens: 1, sampling: .greedy))
    }
    #expect(throws: ServerConfigurationError.self) { try Scheduler(model: model, slots: 0, queueCapacity: 1) }
    // A prompt that fills the context: one token, then `length`.
    let full = try await collect(
      try scheduler.submit(
        SlotRequest(
          promptTokens: [Int32](repeating: 5, count: 32), maxTokens: 10, sampling: greedy(model, banEnd: true)
        )))
    #expect(full.result.finishReason == .length)
    #expect(full.result.completionTokens == 1)
    await scheduler.shutdown()
  }
}
