import QuantaCore

/// How a family's mixture-of-experts layers route tokens (llama.cpp's `build_moe_ffn` arguments
/// for it): the gating, and whether the picked weights are normalized to sum to 1.
public struct ExpertRecipe: Sendable, Equatable {
  public var gating: ExpertRouting.Gating
  public var normalizesWeights: Bool

  /// Mixtral's and Qwen3-MoE's: softmax over all experts, top-k, weights normalized.
  public init(gating: ExpertRouting.Gating = .softmax, normalizesWeights: Bool = true) {
    self.gating = gating
    self.normalizesWeights = normalizesWeights
  }
}

/// The mixture-of-experts FFN of one layer: the router and the experts' stacked matrices.
struct ExpertWeights: Sendable {
  var router: QTensor  // [experts, d]
  var gate: QTensor  // [experts, expertFF, d]
  var up: QTensor  // [experts, expertFF, d]
  var down: QTensor  // [experts, d, expertFF]
  /// gpt-oss's biases: the router's, and each expert's gate, up and down ones.
  var routerBias: Tensor?  // [experts]
  var gateBias: Tensor?  // [experts, expertFF]
  var upBias: Tensor?  // [experts, expertFF]
  var downBias: Tensor?  // [experts, d]
}

/// The activation memory of the expert blocks, `capacity` rows (with `ActivationBuffers`).
final class ExpertBuffers: Sendable {
  let logits: any DeviceBuffer  // (capacity, experts)
  let ids: any DeviceBuffer  // (capacity, used) Int32
  let weights: any DeviceBuffer  // (capacity, used)
  let gate, up, act: any DeviceBuffer  // (capacity, used, expertFF)
  let out: any DeviceBuffer  // (capacity, used, d)

  /// Bytes of `capacity` rows: the widths allocated below.
  static func byteCount(config c: ModelConfig, capacity: Int) -> Int {
    guard c.expertCount > 0 else { return 0 }
    let k = c.expertUsedCount
    return capacity * (c.expertCount + 2 * k + 3 * k * c.expertFeedForwardLength + k * c.embeddingLength) * 4
  }

  init(config c: ModelConfig, capacity: Int, backend: any ComputeBackend) throws {
    func buffer(_ width: Int) throws -> any DeviceBuffer {
      try backend.allocate(byteCount: capacity * width * 4)
    }
    let k = c.expertUsedCount
    logits = try buffer(c.expertCount)
    ids = try buffer(k)
    weights = try buffer(k)
    gate = try buffer(k * c.expertFeedForwardLength)
    up = try buffer(k * c.expertFeedForwardLength)
    act = try buffer(k * c.expertFeedForwardLength)
    out = try buffer(k * c.embeddingLength)
  }
}

/// Views of the first `rows` rows of an `ExpertBuffers`.
struct ExpertActivations {
  var logits: Tensor  // (rows, experts)
  var ids: IndexTensor  // rows · used
  var weights: Tensor  // (rows, used)
  var gate, up, act: Tensor  // (rows, used, expertFF)
  var out: Tensor  // (rows, used, d)

  init(_ b: ExpertBuffers, rows: Int, config c: ModelConfig) throws {
    let k = c.expertUsedCount
    let ff = c.expertFeedForwardLength
    logits = try Tensor(buffer: b.logits, dtype: .f32, shape: [rows, c.expertCount])
    ids = try IndexTensor(buffer: b.ids, count: rows * k)
    weights = try Tensor(buffer: b.weights, dtype: .f32, shape: [rows, k])
    gate = try Tensor(buffer: b.gate, dtype: .f32, shape: [rows, k, ff])
    up = try Tensor(buffer: b.up, dtype: .f32, shape: [rows, k, ff])
    act = try Tensor(buffer: b.act, dtype: .f32, shape: [rows, k, ff])
    out = try Tensor(buffer: b.out, dtype: .f32, shape: [rows, k, c.embeddingLength])
  }
}

extension ForwardContext {
  /// The mixture-of-experts FFN of `input` (normed, `[n, d]`) → `a.proj`: the router's logits, the
  /// picked experts and weights, each picked expert's `down(act(gate(x)) · up(x))` by the
  /// expert-routed matmul, and their weighted sum (llama.cpp's `build_moe_ffn`).
  func expertFeedForward(
    _ input: Tensor, weights w: ExpertWeights, activation: LayerRecipe.GatedActivation, a: Activations
  ) throws -> Tensor {
    guard let e = a.experts else {
      throw QuantaError.invalidArgument(op: "expertFeedForward", reason: "no expert activations allocated")
    }
    let routing = ExpertRouting(
      gating: config.recipe.experts.gating, used: config.expertUsedCount,
      normalizesWeights: config.recipe.experts.normalizesWeights)
    matmul(input, w.router, into: e.logits, .matmulFeedForward)
    if let b = w.routerBias { add(e.logits, b, into: e.logits) }
    recorder.append(
      .routeExperts(logits: e.logits, routing: routing, ids: e.ids, weights: e.weights), .experts)
    // Every picked expert reads the token's one row: [n, 1, d].
    let x = try input.reshaped([input.shape[0], 1, input.shape[1]])
    let options = matmulOptions
    recorder.append(
      .matmulID(x: x, weights: w.gate, ids: e.ids, options: options, out: e.gate), .matmulFeedForward)
    recorder.append(
      .matmulID(x: x, weights: w.up, ids: e.ids, options: options, out: e.up), .matmulFeedForward)
    // Per-expert biases in place (llama.cpp adds up's, then gate's, then after down down's).
    if let b = w.upBias { recorder.append(.addID(x: e.up, bias: b, ids: e.ids, out: e.up), .add) }
    if let b = w.gateBias { recorder.append(.addID(x: e.gate, bias: b, ids: e.ids, out: e.gate), .add) }
    switch activation {
    case .silu: recorder.append(.swiglu(gate: e.gate, up: e.up, out: e.act), .activation)
    case .gelu: recorder.append(.geglu(gate: e.gate, up: e.up, out: e.act), .activation)
    case .swigluOAI: recorder.append(swigluOAI(gate: e.gate, up: e.up, out: e.act), .activation)
    }
    recorder.append(
      .matmulID(x: e.act, weights: w.down, ids: e.ids, options: options, out: e.out), .matmulFeedForward)
    if let b = w.downBias { recorder.append(.addID(x: e.out, bias: b, ids: e.ids, out: e.out), .add) }
    recorder.append(.mixExperts(x: e.out, weights: e.weights, out: a.proj), .experts)
    return a.proj
  }
}
