import Prometheus
import Synchronization

/// The server's Prometheus metrics (`GET /metrics`, text format 0.0.4). Counters and gauges are
/// thread-safe: the HTTP side and the generation worker update them directly.
public final class ServerMetrics: Sendable {
  public let registry = PrometheusCollectorRegistry()
  /// Completion requests admitted to the scheduler.
  let requests: Counter
  /// Completion requests refused: queue full or shutting down (503).
  let rejected: Counter
  /// Requests whose client went away or that shutdown cancelled.
  let cancelled: Counter
  /// Prompt tokens evaluated, and prompt tokens reused from a slot's cache instead.
  let promptTokens: Counter
  let cachedPromptTokens: Counter
  /// Tokens generated.
  let predictedTokens: Counter
  /// Seconds the worker spent on prompt chunks and on decode steps.
  let promptSeconds: Counter
  let decodeSeconds: Counter
  /// Tokens per second of the worker's prompt evaluation and decode (totals over time spent).
  let promptTokensPerSecond: Gauge
  let decodeTokensPerSecond: Gauge
  let slotsTotal: Gauge
  let slotsBusy: Gauge
  let queueDepth: Gauge
  /// HTTP responses by status class, for every endpoint.
  private let responses: Mutex<[String: Counter]> = Mutex([:])

  private struct Totals {
    var promptTokens = 0
    var promptSeconds = 0.0
    var decodeSteps = 0
    var decodeSeconds = 0.0
  }
  private let totals = Mutex(Totals())

  public init() {
    let r = registry
    requests = r.makeCounter(name: "quanta_requests_total", help: "Completion requests admitted.")
    rejected = r.makeCounter(
      name: "quanta_requests_rejected_total",
      help: "Completion requests refused (queue full or shutting down).")
    cancelled = r.makeCounter(
      name: "quanta_requests_cancelled_total", help: "Requests cancelled: client gone or server shutdown.")
    promptTokens = r.makeCounter(name: "quanta_prompt_tokens_total", help: "Prompt tokens evaluated.")
    cachedPromptTokens = r.makeCounter(
      name: "quanta_prompt_tokens_cached_total", help: "Prompt tokens reused from a slot's cache.")
    predictedTokens = r.makeCounter(name: "quanta_tokens_predicted_total", help: "Tokens generated.")
    promptSeconds = r.makeCounter(
      name: "quanta_prompt_seconds_total", help: "Seconds spent evaluating prompt chunks.")
    decodeSeconds = r.makeCounter(name: "quanta_decode_seconds_total", help: "Seconds spent in decode steps.")
    promptTokensPerSecond = r.makeGauge(
      name: "quanta_prompt_tokens_per_second", help: "Prompt tokens evaluated per second of prompt work.")
    decodeTokensPerSecond = r.makeGauge(
      name: "quanta_decode_tokens_per_second", help: "Decode steps per second of decode work.")
    slotsTotal = r.makeGauge(name: "quanta_slots_total", help: "Slots (-np).")
    slotsBusy = r.makeGauge(name: "quanta_slots_busy", help: "Slots serving a request.")
    queueDepth = r.makeGauge(name: "quanta_queue_depth", help: "Requests waiting for a slot.")
  }

  func recordPrompt(tokens: Int, seconds: Double) {
    promptTokens.increment(by: Int64(tokens))
    promptSeconds.increment(by: seconds)
    let rate = totals.withLock { t -> Double in
      t.promptTokens += tokens
      t.promptSeconds += seconds
      return t.promptSeconds > 0 ? Double(t.promptTokens) / t.promptSeconds : 0
    }
    promptTokensPerSecond.set(rate)
  }

  /// One decode pass that produced `tokens` tokens (one per stream of the batch) in `seconds`.
  func recordDecode(tokens: Int, seconds: Double) {
    decodeSeconds.increment(by: seconds)
    let rate = totals.withLock { t -> Double in
      t.decodeSteps += tokens
      t.decodeSeconds += seconds
      return t.decodeSeconds > 0 ? Double(t.decodeSteps) / t.decodeSeconds : 0
    }
    decodeTokensPerSecond.set(rate)
  }

  /// Counts one HTTP response of `status` on `path`.
  func recordResponse(path: String, status: Int) {
    let key = "\(path) \(status)"
    let counter = responses.withLock { map -> Counter in
      if let c = map[key] { return c }
      let c = registry.makeCounter(
        name: "quanta_http_responses_total", labels: [("path", path), ("status", String(status))],
        help: "HTTP responses by path and status.")
      map[key] = c
      return c
    }
    counter.increment()
  }

  /// The Prometheus text exposition of every metric.
  public func exposition() -> String { registry.emitToString() }
}
