// The dense ops of a transformer on the CPU: pure functions over raw buffers.
//
// Conventions for every op in `CPUOps`:
// - f32 compute; the KV cache is f16 (IEEE half bits as UInt16).
// - Shapes are written row-major, outermost first, as `// (nTokens, nHead, headDim)`.
// - No op allocates: scratch, when needed, comes from the caller (`...ScratchCount` says how much).
// - Each op processes a caller-given range of rows (or work items), so a thread pool can split the
//   rows across threads; ranges of one call never touch another range's output.
// - Sizes are trusted (the backend validated them once); ids read from data (token ids for
//   `getRows`) are checked and reported as `CPUOpsError`, never trapped on.

import GGML

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

enum CPUOps {}

/// Errors of the ops that read ids or types from data.
enum CPUOpsError: Error, Equatable, Sendable, CustomStringConvertible {
  /// A row id outside the table (`getRows`).
  case rowIdOutOfRange(id: Int32, rows: Int)
  /// A table type with no dequantizer.
  case unsupportedType(GGMLType)
  /// A row length that is not a whole number of the type's blocks.
  case rowLengthNotMultipleOfBlock(type: GGMLType, rowLength: Int)
  /// A KV cache position outside the cache (`storeKV`).
  case positionOutOfRange(position: Int32, nCtx: Int)

  var description: String {
    switch self {
    case .rowIdOutOfRange(let id, let rows): return "row id \(id) is outside a table of \(rows) rows"
    case .unsupportedType(let t): return "get_rows has no dequantizer for type \(t)"
    case .rowLengthNotMultipleOfBlock(let t, let n):
      return "row length \(n) is not a multiple of the \(t) block size \(t.blockSize)"
    case .positionOutOfRange(let p, let nCtx): return "position \(p) is outside a KV cache of \(nCtx)"
    }
  }
}

/// Which keys a query may attend to. Key `j` of the cache holds position `j`.
struct AttentionMask: Sendable, Equatable {
  /// Query at position p sees keys at positions ≤ p.
  var causal: Bool = true
  /// Sliding window W (gemma3's local layers, llama.cpp's `LLAMA_SWA_TYPE_STANDARD`): the key at
  /// p_k is masked when p_q - p_k >= W. 0 = no window.
  var slidingWindow: Int = 0

  static let none = AttentionMask(causal: false, slidingWindow: 0)

  /// The visible keys of a query at `position` among `nKV` keys: always one contiguous range,
  /// possibly empty.
  @inline(__always)
  func visibleKeys(queryPosition position: Int, nKV: Int) -> Range<Int> {
    var upper = nKV
    if causal { upper = min(upper, position + 1) }
    var lower = 0
    if slidingWindow > 0 { lower = max(0, position - slidingWindow + 1) }
    return lower < upper ? lower..<upper : 0..<0
  }
}

/// How attention logits are formed from q·k: `x = scale · q·k`, then (when `softCap > 0`)
/// `x = softCap · tanh(x / softCap)`, then the mask, then softmax.
struct AttentionLogits: Sendable, Equatable {
  var scale: Float
  /// 0 = no soft-capping.
  var softCap: Float = 0
  var mask = AttentionMask()
  /// gpt-oss's sink logit per query head (nil: none): one more term of each softmax denominator.
  var sinks: [Float]? = nil

  /// The factor that turns a query head's accumulated `Σ exp(s_j − max) · v_j` into its output:
  /// 1 / the denominator (`total`, plus `exp(sink − max)` with a sink, rescaled to the sink when it
  /// is the larger, as ggml's `flash_attn_ext`); 0 when the query saw no key.
  @inline(__always)
  func normalizer(total: Float, max m: Float, head: Int) -> Float {
    guard total > 0 else { return 0 }
    guard let sink = sinks?[head] else { return 1 / total }
    if sink > m {
      let ms = expf(m - sink)
      return ms / (total * ms + 1)
    }
    return 1 / (total + expf(sink - m))
  }
}
