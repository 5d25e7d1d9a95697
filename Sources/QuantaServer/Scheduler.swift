import Dispatch
import Foundation
import QuantaLM
import Synchronization

/// What one request asks the scheduler to generate.
public struct SlotRequest: Sendable, Equatable {
  /// The whole prompt (BOS included when the vocabulary adds one); never empty.
  public var promptTokens: [Int32]
  /// Most tokens to generate; nil: until an end-of-generation token, a stop string or a full context.
  public var maxTokens: Int?
  public var sampling: SamplingOptions
  /// Generation ends before any of these texts would be sent.
  public var stopStrings: [String]
  /// When set, each sampled token's log-probability and this many (0…20) most likely alternatives
  /// are reported (`SlotEvent.logprobs`), from the model's own distribution: the log-softmax of the
  /// raw logits, before any sampling setting (temperature, penalties, bias, grammar) is applied.
  public var topLogprobs: Int?

  public init(
    promptTokens: [Int32], maxTokens: Int?, sampling: SamplingOptions, stopStrings: [String] = [],
    topLogprobs: Int? = nil
  ) {
    self.promptTokens = promptTokens
    self.maxTokens = maxTokens
    self.sampling = sampling
    self.stopStrings = stopStrings
    self.topLogprobs = topLogprobs
  }
}

/// One token and its log-probability under the model's distribution.
public struct TokenProbability: Sendable, Equatable {
  public var id: Int32
  /// The bytes the token stands for (control tokens: their text).
  public var bytes: [UInt8]
  /// Natural log of its probability (log-softmax of the raw logits).
  public var logprob: Float
}

/// A generated token's log-probability and the most likely tokens at its position (largest
/// first; ties by id).
public struct TokenLogprob: Sendable, Equatable {
  public var token: TokenProbability
  public var top: [TokenProbability]

  /// The log-softmax of `logits` at `id`, and the `top` largest entries.
  public static func compute(
    _ logits: UnsafeBufferPointer<Float>, sampled id: Int32, top count: Int, piece: (Int32) -> [UInt8]
  ) -> TokenLogprob {
    var maxLogit = -Float.infinity
    for x in logits where x > maxLogit { maxLogit = x }
    var sum = 0.0
    for x in logits { sum += Double(Foundation.exp(x - maxLogit)) }
    let logZ = Double(maxLogit) + Foundation.log(sum)
    func lp(_ i: Int) -> Float { Float(Double(logits[i]) - logZ) }
    // The `count` largest logits, kept sorted (largest first, lower id first on ties).
    var best: [(Int, Float)] = []
    if count > 0 {
      best.reserveCapacity(count + 1)
      for i in logits.indices {
        let x = logits[i]
        if best.count == count, let last = best.last, x <= last.1 { continue }
        var at = best.count
        while at > 0, best[at - 1].1 < x { at -= 1 }
        best.insert((i, x), at: at)
        if best.count > count { best.removeLast() }
      }
    }
    return TokenLogprob(
      token: TokenProbability(id: id, bytes: piece(id), logprob: lp(Int(id))),
      top: best.map { TokenProbability(id: Int32($0.0), bytes: piece(Int32($0.0)), logprob: lp($0.0)) })
  }
}

/// OpenAI's `finish_reason`.
public enum FinishReason: String, Sendable, Equatable {
  /// An end-of-generation token or a stop string.
  case stop
  /// `max_tokens`, or the context is full.
  case length
}

/// How a request's generation ended.
public struct SlotResult: Sendable, Equatable {
  /// Tokens of the prompt, all of them (OpenAI's `prompt_tokens`).
  public var promptTokens: Int
  /// Of those, tokens already in the slot's cache (prefix reuse): not evaluated again.
  public var cachedTokens: Int
  public var completionTokens: Int
  public var finishReason: FinishReason
  /// The slot that served it (0-based).
  public var slot: Int
}

/// What a submitted request's stream yields: text pieces (never a broken UTF-8 character, never part
/// of a stop string), then one result.
public enum SlotEvent: Sendable, Equatable {
  case text(String)
  /// With `SlotRequest.topLogprobs`: the tokens whose text the next `.text` event carries (or,
  /// just before `.finished`, tokens whose text was empty), in order. Tokens that made up a stop
  /// string, or text held back when one was found, are not reported (as their text is not sent).
  case logprobs([TokenLogprob])
  case finished(SlotResult)
}

public enum SchedulerError: Error, Sendable, Equatable, CustomStringConvertible {
  /// Every slot is busy and `capacity` requests already wait.
  case queueFull(capacity: Int)
  /// The server is shutting down and admits nothing new.
  case shuttingDown
  /// The server cancelled the request while shutting down.
  case cancelledByShutdown
  case emptyPrompt
  /// The prompt does not fit the slot's context.
  case promptTooLong(tokens: Int, contextLength: Int)
  /// A forward pass failed (a backend error): the request ends, the slot is reset and serves on.
  case generationFailed(String)

  public var description: String {
    switch self {
    case .queueFull(let c):
      return "the server is busy: every slot is in use and \(c) requests are already waiting"
    case .shuttingDown: return "the server is shutting down"
    case .cancelledByShutdown: return "the request was cancelled: the server is shutting down"
    case .emptyPrompt: return "the prompt is empty"
    case .promptTooLong(let n, let c):
      return "the prompt has \(n) tokens but the context holds \(c) (start the server with a larger -c)"
    case .generationFailed(let m): return "generation failed: \(m)"
    }
  }
}

/// A submitted request: its events, and a way to cancel it (the client went away).
public struct SlotSubmission: Sendable {
  public let events: AsyncThrowingStream<SlotEvent, any Error>
  let job: Job
  let scheduler: Scheduler

  /// Frees the request's slot (or drops it from the queue) at the worker's next round; its events
  /// end with a `CancellationError`.
  public func cancel() { scheduler.cancel(job) }
}

/// A snapshot of the scheduler's load.
public struct SchedulerStats: Sendable, Equatable {
  public var slots: Int
  public var busySlots: Int
  public var queued: Int
}

/// Runs requests on `slots` sessions of one model, each slot with its own KV cache, with requests
/// beyond the slots waiting in a bounded queue.
///
/// One generation worker (a thread of its own: forward passes block) owns the sessions. Each round
/// it admits waiting requests into free slots, then steps every busy slot once: every decoding
/// slot samples one token, and those tokens go through the model in one forward pass together
/// with the next prompt chunks of the slots still prefilling (`prefillChunk` prompt tokens in all,
/// shared among them) — continuous batching through `BatchDecoder`, the weights read once per
/// round for all streams. So a request joins the running batch as soon as its prompt is in, and a
/// long prompt does not stall the others for longer than one chunk. Access to the model is serialized by the single worker.
///
/// Prefix reuse: a request goes to the free slot whose cached tokens share the longest prefix with
/// its prompt, and only the rest of the prompt is evaluated; when no slot shares at least half of
/// the prompt (llama-server's slot prompt similarity), to the least recently used free slot.
///
/// A request's stream ending early (the client went away) cancels it: the worker frees its slot at
/// its next round.
public final class Scheduler: Sendable {
  public let model: LanguageModel
  public let slotCount: Int
  public let queueCapacity: Int
  /// Most prompt tokens a slot evaluates per round.
  public let prefillChunk: Int
  public let metrics: ServerMetrics
  /// Tokens each slot's cache holds.
  public var contextLength: Int { model.contextLength }

  private struct Shared {
    var queue: [Job] = []
    var busy = 0
    var draining = false
    var stopped = false
    var nextID = 0
  }
  private let shared = Mutex(Shared())
  /// Signalled on every submit, cancel and stop; the idle worker waits on it.
  private let wake = DispatchSemaphore(value: 0)
  /// Signalled by the worker when it returns.
  private let exited = DispatchSemaphore(value: 0)
  /// Holds the worker before its first round while a test queues requests (`startPaused`).
  private let gate = DispatchSemaphore(value: 0)
  /// Starts a worker made with `startPaused` (tests: requests queued before it admits any).
  func resume() { gate.signal() }
  /// When set (tests), every step the worker takes, in order: which slot, prefill chunk or decode,
  /// and which forward pass (numbered from 1) it went through.
  let stepLog: Mutex<[Step]>?
  struct Step: Equatable {
    var slot: Int
    var prefill: Bool
    var pass = 0
  }
  /// Logs one forward pass's steps (tests).
  private func logPass(_ steps: [(slot: Int, prefill: Bool)]) {
    stepLog?.withLock { log in
      let pass = (log.last?.pass ?? 0) + 1
      for s in steps { log.append(Step(slot: s.slot, prefill: s.prefill, pass: pass)) }
    }
  }

  /// Allocates `slots` sessions (their KV caches) and starts the worker.
  public convenience init(
    model: LanguageModel, slots: Int, queueCapacity: Int, prefillChunk: Int = 256,
    metrics: ServerMetrics = ServerMetrics()
  ) throws {
    try self.init(
      model: model, slots: slots, queueCapacity: queueCapacity, prefillChunk: prefillChunk, metrics: metrics,
      recordSteps: false, startPaused: false)
  }

  init(
    model: LanguageModel, slots: Int, queueCapacity: Int, prefillChunk: Int, metrics: ServerMetrics,
    recordSteps: Bool, startPaused: Bool
  ) throws {
    guard slots >= 1 else { throw ServerConfigurationError.invalid("-np must be at least 1, got \(slots)") }
    guard queueCapacity >= 0 else {
      throw ServerConfigurationError.invalid("the queue capacity must be ≥ 0, got \(queueCapacity)")
    }
    guard prefillChunk >= 1 else {
      throw ServerConfigurationError.invalid("the prefill chunk must be at least 1, got \(prefillChunk)")
    }
    self.model = model
    slotCount = slots
    self.queueCapacity = queueCapacity
    self.prefillChunk = prefillChunk
    self.metrics = metrics
    stepLog = recordSteps ? Mutex([]) : nil
    metrics.slotsTotal.set(Double(slots))
    // Sessions are not Sendable: they are made here (so an allocation failure is reported at start)
    // and from then on touched only by the worker thread.
    nonisolated(unsafe) let owned = try (0..<slots).map { Slot(index: $0, session: try model.makeSession()) }
    nonisolated(unsafe) let decoder = slots > 1 ? try BatchDecoder(model: model, maxBatch: slots) : nil
    let gate = startPaused ? self.gate : nil
    let thread = Thread { [self] in
      gate?.wait()
      workerLoop(owned, decoder: decoder)
      exited.signal()
    }
    // Forward passes of big models recurse through deep closures; give them room.
    thread.stackSize = 8 << 20
    thread.name = "quanta-generation"
    thread.start()
  }

  /// Queues `request`; its `events` yield the text and the result. Ending the iteration early, or
  /// `cancel()`, cancels it. Throws `queueFull` when every slot is busy and the queue is full,
  /// `shuttingDown` while draining, `promptTooLong` when the prompt cannot fit a slot.
  public func submit(_ request: SlotRequest) throws(SchedulerError) -> SlotSubmission {
    guard !request.promptTokens.isEmpty else { throw .emptyPrompt }
    guard request.promptTokens.count <= contextLength else {
      throw .promptTooLong(tokens: request.promptTokens.count, contextLength: contextLength)
    }
    let (stream, continuation) = AsyncThrowingStream<SlotEvent, any Error>.makeStream()
    let admitted: Result<Job, SchedulerError> = shared.withLock { s in
      if s.draining || s.stopped { return .failure(.shuttingDown) }
      let free = slotCount - s.busy
      if s.queue.count >= free + queueCapacity { return .failure(.queueFull(capacity: queueCapacity)) }
      s.nextID += 1
      let job = Job(id: s.nextID, request: request, continuation: continuation)
      s.queue.append(job)
      return .success(job)
    }
    let job: Job
    switch admitted {
    case .success(let j): job = j
    case .failure(let e):
      metrics.rejected.increment()
      throw e
    }
    continuation.onTermination = { [weak self] termination in
      if case .cancelled = termination {
        job.cancel(.client)
        self?.wake.signal()
      }
    }
    metrics.requests.increment()
    wake.signal()
    return SlotSubmission(events: stream, job: job, scheduler: self)
  }

  fileprivate func cancel(_ job: Job) {
    job.cancel(.client)
    wake.signal()
  }

  /// Busy slots and waiting requests.
  public var stats: SchedulerStats {
    shared.withLock { SchedulerStats(slots: slotCount, busySlots: $0.busy, queued: $0.queue.count) }
  }

  /// Stops admitting requests: `submit` throws `shuttingDown` from now on. Requests already in
  /// slots or the queue go on.
  public func beginDrain() { shared.withLock { $0.draining = true } }

  /// Cancels every request in a slot or the queue; their streams end with `cancelledByShutdown`.
  public func cancelAll() {
    let queued = shared.withLock { s in s.queue }
    for job in queued { job.cancel(.shutdown) }
    cancelActive.store(true, ordering: .releasing)
    wake.signal()
  }
  /// Set by `cancelAll`: the worker cancels whatever is in its slots.
  private let cancelActive = Atomic<Bool>(false)

  /// Waits until no request is in a slot or the queue, up to `timeout`; returns whether it is idle.
  public func waitUntilIdle(timeout: Duration) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
      if shared.withLock({ $0.busy == 0 && $0.queue.isEmpty }) { return true }
      try? await Task.sleep(for: .milliseconds(10))
    }
    return shared.withLock { $0.busy == 0 && $0.queue.isEmpty }
  }

  /// Drains and stops the worker: cancels what is left, waits for the worker to return (the
  /// sessions go with it). Idempotent.
  public func shutdown() async {
    let first = shared.withLock { s -> Bool in
      defer { s.stopped = true }
      s.draining = true
      return !s.stopped
    }
    cancelAll()
    wake.signal()
    guard first else { return }
    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
      DispatchQueue.global().async {
        self.exited.wait()
        c.resume()
      }
    }
  }

  // MARK: The worker (its own thread; the only user of the sessions)

  private func workerLoop(_ slots: [Slot], decoder: BatchDecoder?) {
    var tick = 0
    while true {
      if cancelActive.exchange(false, ordering: .acquiring) {
        for slot in slots { slot.work?.job.cancel(.shutdown) }
      }
      admit(into: slots, tick: &tick)
      let busy = slots.filter { $0.work != nil }
      publishLoad()
      if busy.isEmpty {
        if shared.withLock({ $0.stopped }) { return }
        wake.wait()
        continue
      }
      round(busy, decoder: decoder)
    }
  }

  /// One step of every busy slot. Each decoding slot samples its next token; then, with a batch
  /// decoder, the prompt chunks of the slots still prefilling and those tokens go through the model
  /// in one forward pass (a decode row is a chunk of one token), so a round reads the weights once.
  /// Without one (a single slot), the slot prefills a chunk or decodes its token alone.
  private func round(_ busy: [Slot], decoder: BatchDecoder?) {
    let prefilling = busy.filter { slot in
      guard let w = slot.work else { return false }
      return !w.pending.isEmpty && !w.job.isCancelled
    }
    let prefillingIndices = Set(prefilling.map(\.index))
    var decoding: [(slot: Slot, token: Int32)] = []
    for slot in busy where !prefillingIndices.contains(slot.index) {
      if let id = step(slot) { decoding.append((slot, id)) }
    }
    if let decoder, prefilling.count + decoding.count >= 2 {
      if prefilling.isEmpty {
        decodeTogether(decoding, decoder: decoder)
      } else {
        passTogether(prefilling, decoding, decoder: decoder)
      }
      return
    }
    for slot in prefilling { prefillAlone(slot) }
    for d in decoding {
      logPass([(d.slot.index, false)])
      let clock = ContinuousClock()
      let start = clock.now
      do {
        try evaluate(d.slot, d.token)
        metrics.recordDecode(tokens: 1, seconds: (clock.now - start).seconds)
      } catch {
        fail(d.slot, error)
      }
    }
  }

  /// The decoding slots' tokens in one pass (`BatchDecoder`, a replayed plan per set of slots);
  /// greedy slots get their next token from the device's argmax.
  private func decodeTogether(_ decoding: [(slot: Slot, token: Int32)], decoder: BatchDecoder) {
    logPass(decoding.map { ($0.slot.index, false) })
    let clock = ContinuousClock()
    let start = clock.now
    do {
      let sessions = decoding.map(\.slot.session)
      let tokens = decoding.map(\.token)
      if decoding.allSatisfy({ $0.slot.work!.greedy }) {
        let next = try decoder.decodeGreedy(sessions, tokens: tokens)
        for (d, id) in zip(decoding, next) { d.slot.work!.nextFromDevice = id }
      } else if decoding.allSatisfy({ $0.slot.work!.greedy || $0.slot.work!.deviceSampling }) {
        // Every row's chain runs on the device (a greedy one as temperature 0): only ids come back.
        var samplers = decoding.map { $0.slot.work!.sampler }
        let next = try decoder.decodeSampled(sessions, tokens: tokens, samplers: &samplers)
        for (i, d) in decoding.enumerated() {
          d.slot.work!.sampler = samplers[i]
          d.slot.work!.nextFromDevice = next[i]
        }
      } else {
        try decoder.decode(sessions, tokens: tokens)
        for d in decoding { d.slot.work!.nextFromDevice = nil }
      }
      metrics.recordDecode(tokens: decoding.count, seconds: (clock.now - start).seconds)
    } catch {
      for d in decoding { fail(d.slot, error) }
    }
  }

  /// Prompt chunks of the prefilling slots and the decoding slots' tokens in one forward pass
  /// (`BatchDecoder.prefill`, each decode row a one-token chunk). The prompt rows are `prefillChunk`
  /// in all, shared out evenly (a slot needing less than its share leaves the rest to the others),
  /// so every prefilling slot advances each round and the pass's activation memory is that of one
  /// chunk plus the decode rows. The pass's time is split between the prompt and decode metrics
  /// by rows.
  private func passTogether(
    _ prefilling: [Slot], _ decoding: [(slot: Slot, token: Int32)], decoder: BatchDecoder
  ) {
    var shares = [Int](repeating: 0, count: prefilling.count)
    var remaining = prefillChunk
    var open = Array(prefilling.indices)
    while remaining > 0, !open.isEmpty {
      let each = max(1, remaining / open.count)
      var next: [Int] = []
      for i in open where remaining > 0 {
        let take = min(prefilling[i].work!.pending.count - shares[i], each, remaining)
        shares[i] += take
        remaining -= take
        if shares[i] < prefilling[i].work!.pending.count { next.append(i) }
      }
      open = next
    }
    let chosen = prefilling.indices.filter { shares[$0] > 0 }.map {
      (slot: prefilling[$0], count: shares[$0])
    }
    logPass(chosen.map { ($0.slot.index, true) } + decoding.map { ($0.slot.index, false) })
    let sessions = chosen.map(\.slot.session) + decoding.map(\.slot.session)
    let chunks = chosen.map { Array($0.slot.work!.pending.prefix($0.count)) } + decoding.map { [$0.token] }
    let clock = ContinuousClock()
    let start = clock.now
    do {
      try decoder.prefill(sessions, chunks: chunks)
      for c in chosen { c.slot.work!.pending = c.slot.work!.pending.dropFirst(c.count) }
      for d in decoding { d.slot.work!.nextFromDevice = nil }
      let seconds = (clock.now - start).seconds
      let promptRows = chosen.reduce(0) { $0 + $1.count }
      let share = Double(promptRows) / Double(promptRows + decoding.count)
      metrics.recordPrompt(tokens: promptRows, seconds: seconds * share)
      if !decoding.isEmpty { metrics.recordDecode(tokens: decoding.count, seconds: seconds * (1 - share)) }
    } catch {
      for c in chosen { fail(c.slot, error) }
      for d in decoding { fail(d.slot, error) }
    }
  }

  /// The next prompt chunk of a slot that runs alone.
  private func prefillAlone(_ slot: Slot) {
    guard var w = slot.work else { return }
    logPass([(slot.index, true)])
    let clock = ContinuousClock()
    let start = clock.now
    do {
      let chunk = Array(w.pending.prefix(prefillChunk))
      try slot.session.evaluate(tokens: chunk)
      w.pending = w.pending.dropFirst(chunk.count)
      metrics.recordPrompt(tokens: chunk.count, seconds: (clock.now - start).seconds)
      slot.work = w
    } catch {
      fail(slot, error)
    }
  }

  /// One decode step of a single slot (the batch is that slot alone).
  private func evaluate(_ slot: Slot, _ id: Int32) throws {
    guard var w = slot.work else { return }
    if w.greedy {
      w.nextFromDevice = try slot.session.evaluateGreedy(token: id)
    } else if w.deviceSampling {
      w.nextFromDevice = try slot.session.evaluateSampled(token: id, sampler: &w.sampler)
    } else {
      try slot.session.evaluate(token: id)
      w.nextFromDevice = nil
    }
    slot.work = w
  }

  /// A failed pass: the cache may hold part of it, so the slot forgets it all.
  private func fail(_ slot: Slot, _ error: any Error) {
    guard let w = slot.work else { return }
    slot.session.reset()
    w.job.continuation.finish(throwing: SchedulerError.generationFailed("\(error)"))
    slot.work = nil
    releaseCount()
  }

  /// Moves waiting requests into free slots: each to the free slot whose cache shares the longest
  /// prefix with its prompt, or the least recently used one when none shares half of it.
  private func admit(into slots: [Slot], tick: inout Int) {
    while slots.contains(where: { $0.work == nil }) {
      let next: Job? = shared.withLock { s in
        while let job = s.queue.first, job.isCancelled {
          s.queue.removeFirst()
          job.finish(cancelled: job.cancelReason)
        }
        guard !s.queue.isEmpty else { return nil }
        s.busy += 1
        return s.queue.removeFirst()
      }
      guard let job = next else { return }
      let prompt = job.request.promptTokens
      var best: (slot: Slot, common: Int)?
      for slot in slots where slot.work == nil {
        let common = commonPrefix(slot.session.tokens, prompt)
        if best == nil || common > best!.common
          || (common == best!.common && slot.lastUsed < best!.slot.lastUsed)
        {
          best = (slot, common)
        }
      }
      guard var (slot, common) = best else { return }
      if common < 2 || common * 2 < prompt.count {
        // Less than half of the prompt in common (llama-server's slot prompt similarity, 0.5): the
        // least recently used slot, so that the caches of recent conversations stay for their
        // next turns.
        slot = slots.filter { $0.work == nil }.min { $0.lastUsed < $1.lastUsed } ?? slot
        common = commonPrefix(slot.session.tokens, prompt)
      }
      tick += 1
      slot.lastUsed = tick
      // At least the last prompt token is evaluated: its logits give the first sampled token.
      let reused = min(common, prompt.count - 1)
      slot.session.truncate(to: reused)
      slot.work = Work(job: job, model: model, reused: reused, contextLength: contextLength)
      metrics.cachedPromptTokens.increment(by: Int64(reused))
    }
  }

  private func commonPrefix(_ a: [Int32], _ b: [Int32]) -> Int {
    var n = 0
    let m = min(a.count, b.count)
    while n < m, a[n] == b[n] { n += 1 }
    return n
  }

  /// The sampling half of a prompt-complete slot's decode step: returns the token the slot wants
  /// evaluated next (the round evaluates every slot's in one pass), or nil when the slot finished,
  /// was cancelled or failed.
  private func step(_ slot: Slot) -> Int32? {
    guard var w = slot.work else { return nil }
    if w.job.isCancelled {
      release(slot, cancelled: w.job.cancelReason)
      return nil
    }
    let id: Int32
    if let next = w.nextFromDevice {
      id = next
    } else {
      let tokenizer = model.tokenizer
      let endOfGeneration = model.endOfGenerationTokens
      (id, w.logprobs) = slot.session.withLastLogits { logits in
        let id = w.sampler.sample(logits)
        var pending = w.logprobs
        if let top = w.job.request.topLogprobs, !endOfGeneration.contains(id) {
          pending.append(
            TokenLogprob.compute(logits, sampled: id, top: top) { tokenizer.piece($0, special: true) })
        }
        return (id, pending)
      }
    }
    if model.endOfGenerationTokens.contains(id) {
      slot.work = w
      finish(slot, reason: .stop)
      return nil
    }
    w.sampler.accept(id)
    w.generated += 1
    metrics.predictedTokens.increment()
    let (text, stop) = w.filter.push(w.decoder.append(id))
    if !text.isEmpty {
      if !w.logprobs.isEmpty { w.job.continuation.yield(.logprobs(w.logprobs)) }
      w.logprobs.removeAll()
      w.job.continuation.yield(.text(text))
    }
    if stop != nil {
      w.stoppedByString = true
      slot.work = w
      finish(slot, reason: .stop)
      return nil
    }
    if w.generated >= w.limit || slot.session.position >= contextLength {
      slot.work = w
      finish(slot, reason: .length)
      return nil
    }
    slot.work = w
    return id
  }

  /// Ends the slot's request with `reason`: what the stop filter holds is sent first.
  private func finish(_ slot: Slot, reason: FinishReason) {
    guard var w = slot.work else { return }
    if !w.stoppedByString {
      let rest = w.filter.push(w.decoder.flush()).text + w.filter.flush()
      if !w.logprobs.isEmpty { w.job.continuation.yield(.logprobs(w.logprobs)) }
      if !rest.isEmpty { w.job.continuation.yield(.text(rest)) }
    }
    let result = SlotResult(
      promptTokens: w.job.request.promptTokens.count, cachedTokens: w.reused, completionTokens: w.generated,
      finishReason: reason, slot: slot.index)
    w.job.continuation.yield(.finished(result))
    w.job.continuation.finish()
    slot.work = nil
    releaseCount()
  }

  private func release(_ slot: Slot, cancelled reason: CancelReason) {
    slot.work?.job.finish(cancelled: reason)
    slot.work = nil
    metrics.cancelled.increment()
    releaseCount()
  }

  private func releaseCount() {
    shared.withLock { $0.busy -= 1 }
  }

  private func publishLoad() {
    let s = stats
    metrics.slotsBusy.set(Double(s.busySlots))
    metrics.queueDepth.set(Double(s.queued))
  }
}

enum CancelReason: Int, Sendable {
  case none = 0
  /// The client went away (its stream was dropped).
  case client = 1
  case shutdown = 2
}

/// A request between `submit` and its end: shared by the HTTP side (cancel) and the worker.
final class Job: Sendable {
  let id: Int
  let request: SlotRequest
  let continuation: AsyncThrowingStream<SlotEvent, any Error>.Continuation
  private let reason = Atomic<Int>(CancelReason.none.rawValue)

  init(id: Int, request: SlotRequest, continuation: AsyncThrowingStream<SlotEvent, any Error>.Continuation) {
    self.id = id
    self.request = request
    self.continuation = continuation
  }

  func cancel(_ why: CancelReason) {
    _ = reason.compareExchange(
      expected: CancelReason.none.rawValue, desired: why.rawValue, ordering: .relaxed)
  }
  var isCancelled: Bool { reason.load(ordering: .relaxed) != CancelReason.none.rawValue }
  var cancelReason: CancelReason { CancelReason(rawValue: reason.load(ordering: .relaxed)) ?? .none }

  /// Ends the stream of a cancelled request (a dropped stream ignores it).
  func finish(cancelled why: CancelReason) {
    if why == .shutdown {
      continuation.finish(throwing: SchedulerError.cancelledByShutdown)
    } else {
      continuation.finish(throwing: CancellationError())
    }
  }
}

/// One session and the request it serves; touched by the worker thread only.
final class Slot {
  let index: Int
  let session: Session
  /// The worker's round counter when it was last given a request (least recently used wins ties).
  var lastUsed = 0
  var work: Work?

  init(index: Int, session: Session) {
    self.index = index
    self.session = session
  }
}

/// The generation state of a request in a slot.
struct Work {
  let job: Job
  /// Prompt tokens already in the cache when the request arrived.
  let reused: Int
  /// Prompt tokens still to evaluate.
  var pending: ArraySlice<Int32>
  var sampler: Sampler
  var decoder: StreamingDecoder
  var filter: StopStringFilter
  var generated = 0
  let limit: Int
  /// Greedy decoding takes the argmax where the model runs; the next id comes back from the step.
  let greedy: Bool
  /// Other chains the device holds run there too (`Session.evaluateSampled`); the sampler still
  /// owns the generator and the penalty window.
  let deviceSampling: Bool
  var nextFromDevice: Int32?
  var stoppedByString = false
  /// With `topLogprobs`: the sampled tokens whose text has not been sent yet.
  var logprobs: [TokenLogprob] = []

  init(job: Job, model: LanguageModel, reused: Int, contextLength: Int) {
    let r = job.request
    self.job = job
    self.reused = reused
    pending = r.promptTokens[reused...]
    let breakers =
      r.sampling.dryMultiplier != 0 ? model.tokenizer.tokens(containing: r.sampling.drySequenceBreakers) : []
    sampler = Sampler(r.sampling, contextLength: contextLength, sequenceBreakers: breakers)
    for t in r.promptTokens { sampler.accept(t) }
    decoder = StreamingDecoder(model.tokenizer)
    filter = StopStringFilter(r.stopStrings)
    limit = r.maxTokens ?? Int.max
    // Log-probabilities need the logits on the host, which the device argmax does not bring back.
    greedy = r.sampling.isGreedy && r.topLogprobs == nil
    deviceSampling =
      !greedy && r.topLogprobs == nil && model.backend.samplesOnDevice
      && sampler.runsOnDevice(vocabularySize: model.config.vocabularySize)
  }
}

public enum ServerConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
  case invalid(String)
  public var description: String {
    switch self {
    case .invalid(let m): return m
    }
  }
}

extension Duration {
  var seconds: Double {
    let c = components
    return Double(c.seconds) + Double(c.attoseconds) * 1e-18
  }
}
