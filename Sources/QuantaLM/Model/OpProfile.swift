/// What a forward pass spends its time on (`OpProfile`).
public enum OpKind: Int, Sendable, CaseIterable, CustomStringConvertible {
  case embedding, rmsNorm, matmulQKV, matmulAttentionOutput, matmulFeedForward, matmulOutput, rope, writeKV,
    attention, activation, add, scale, logitsCopy, sampling, softcap, experts, hadamard

  public var description: String {
    switch self {
    case .embedding: return "get_rows (embedding)"
    case .rmsNorm: return "rms_norm"
    case .matmulQKV: return "matmul q/k/v"
    case .matmulAttentionOutput: return "matmul attn_output"
    case .matmulFeedForward: return "matmul ffn"
    case .matmulOutput: return "matmul output (logits)"
    case .rope: return "rope"
    case .writeKV: return "write kv"
    case .attention: return "attention"
    case .activation: return "glu activation"
    case .add: return "add (residual, bias)"
    case .scale: return "scale"
    case .logitsCopy: return "logits to host"
    case .sampling: return "sampling (argmax on the device)"
    case .softcap: return "soft-cap (final logits)"
    case .experts: return "expert routing and mix (moe)"
    case .hadamard: return "hadamard (quantized-cache rotation)"
    }
  }
}

/// Per-op device time of forward passes, for `quanta bench model --profile`. When a session has
/// one, its plans run op by op (no device graph) and the backend times each op (events between
/// the kernels on a GPU, the clock on the CPU); a fused kernel's time lands on its chain's first op.
public final class OpProfile {
  public private(set) var seconds = [Double](repeating: 0, count: OpKind.allCases.count)
  public private(set) var calls = [Int](repeating: 0, count: OpKind.allCases.count)
  public init() {}
  public func reset() {
    for i in seconds.indices {
      seconds[i] = 0
      calls[i] = 0
    }
  }
  func record(_ kind: OpKind, _ d: Duration) {
    let c = d.components
    record(kind, seconds: Double(c.seconds) + Double(c.attoseconds) * 1e-18)
  }
  func record(_ kind: OpKind, seconds s: Double) {
    seconds[kind.rawValue] += s
    calls[kind.rawValue] += 1
  }
  public func seconds(_ kind: OpKind) -> Double { seconds[kind.rawValue] }
  public var total: Double { seconds.reduce(0, +) }
}
