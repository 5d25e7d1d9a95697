// Rotary position embedding (RoPE), ggml's `rope`, with YaRN (ext_factor ≠ 0: gpt-oss) as its
// `rope_yarn`.
//
// Which mode each architecture uses (llama.cpp `llama_model_rope_type` in llama-model.cpp):
//   llama (Llama 2/3, Mistral, SmolLM, TinyLlama)  → normal (LLAMA_ROPE_TYPE_NORM): pairs of
//     adjacent values (x[2i], x[2i+1]);
//   qwen2, qwen3, gemma, gemma2, gemma3           → NeoX (LLAMA_ROPE_TYPE_NEOX): pairs offset by
//     n_rot/2 (x[i], x[i + n_rot/2]).
// Both rotate pair i by θ = pos · freqScale · freqBase^(-2i/nRot) / freqFactor[i]; the values past
// nRot are left as they are.

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

enum RopeMode: Sendable, Equatable {
  /// Adjacent pairs (llama).
  case normal
  /// Pairs offset by nRot/2 (GPT-NeoX; qwen2/3, gemma3).
  case neox
}

struct RopeParameters: Sendable, Equatable {
  var mode: RopeMode
  /// Rotated dimensions per head (`rope.dimension_count`), even, ≤ headDim.
  var nRot: Int
  /// θ base (`rope.freq_base`, 10000 by default; gemma3 global layers 1e6, local 1e4).
  var freqBase: Float = 10_000
  /// Linear position scaling (`1 / rope.scaling.factor` for "linear" scaling).
  var freqScale: Float = 1
  /// Multiplies cos and sin (ggml's `attn_factor`; 1 except for YaRN-style models).
  var attnFactor: Float = 1
  /// YaRN's mix of extrapolation (ggml's `ext_factor`; 0: none) and its correction range in pairs.
  var extFactor: Float = 0
  var yarnLow: Float = 0
  var yarnHigh: Float = 0
}

extension CPUOps {
  /// Floats of rope cache per token: cos and sin for each of the nRot/2 pairs.
  static func ropeCacheCount(nRot: Int) -> Int { nRot }

  /// Precomputes cos/sin per token × pair, once per batch and θ base, shared by Q and K of every
  /// layer with that base. Rounding as ggml's CPU `rope` (`ggml_rope_cache_init`): θ advances by
  /// repeated f32 multiplication with `powf(base, -2/nRot)` from θ₀ = position, each pair uses
  /// `θ / freqFactor · freqScale`, and `cosf`/`sinf` in f32.
  /// - Parameters:
  ///   - positions: `(nTokens)` position of each token.
  ///   - freqFactors: `(nRot/2)` per-pair divisors (llama 3's `rope_freqs.weight`), or nil.
  ///   - cache: `(nTokens, 2, nRot/2)`: for each token, the cosines then the sines.
  ///   - tokens: the tokens this call fills.
  static func ropeCache(
    positions: UnsafePointer<Int32>, parameters p: RopeParameters, freqFactors: UnsafePointer<Float>?,
    into cache: UnsafeMutablePointer<Float>, tokens: Range<Int>
  ) {
    let half = p.nRot / 2
    let thetaScale = powf(p.freqBase, -2 / Float(p.nRot))
    // YaRN's magnitude correction (ggml's `rope_yarn`: mscale · (1 + 0.1 · ln(1 / freq_scale))).
    let mscale = p.extFactor != 0 ? p.attnFactor * (1 + 0.1 * logf(1 / p.freqScale)) : p.attnFactor
    for t in tokens {
      let row = cache + t * p.nRot
      var theta = Float(positions[t])
      for i in 0..<half {
        let ff = freqFactors?[i] ?? 1
        let extrapolated = theta / ff
        var angle = p.freqScale * extrapolated
        if p.extFactor != 0 {
          // ggml's `rope_yarn_ramp` at i0 = 2i: 1 below `low`, 0 above `high`.
          let y = (Float(i) - p.yarnLow) / max(0.001, p.yarnHigh - p.yarnLow)
          let mix = (1 - min(1, max(0, y))) * p.extFactor
          angle = angle * (1 - mix) + extrapolated * mix
        }
        row[i] = cosf(angle) * mscale
        row[half + i] = sinf(angle) * mscale
        theta *= thetaScale
      }
    }
  }

  /// Rotates Q or K in place.
  /// - Parameters:
  ///   - x: `(nTokens, nHead, headDim)`, `tokenStride` floats between tokens (heads are contiguous
  ///     within a token, `headDim` apart).
  ///   - cache: `(nTokens, 2, nRot/2)` from `ropeCache` with the same positions.
  ///   - tokens: the tokens this call rotates.
  static func rope(
    _ x: UnsafeMutablePointer<Float>, tokenStride: Int, nHead: Int, headDim: Int,
    mode: RopeMode, nRot: Int, cache: UnsafePointer<Float>, tokens: Range<Int>
  ) {
    let half = nRot / 2
    for t in tokens {
      let cosRow = cache + t * nRot
      let sinRow = cosRow + half
      for h in 0..<nHead {
        let v = x + t * tokenStride + h * headDim
        switch mode {
        case .neox: rotateHalves(v, cosRow, sinRow, half)
        case .normal: rotateAdjacent(v, cosRow, sinRow, half)
        }
      }
    }
  }

  /// (x[i], x[i+half]) → (x[i]·cos - x[i+half]·sin, x[i]·sin + x[i+half]·cos), each as one fused
  /// multiply-add over the rounded second product: the contraction GCC makes of ggml's
  /// `rotate_pairs` (matches its output bit for bit).
  @inline(__always)
  private static func rotateHalves(
    _ v: UnsafeMutablePointer<Float>, _ cosRow: UnsafePointer<Float>, _ sinRow: UnsafePointer<Float>,
    _ half: Int
  ) {
    let w = v + half
    var i = 0
    while i + 8 <= half {
      let x0 = SIMDMath.load8(v + i)
      let x1 = SIMDMath.load8(w + i)
      let c = SIMDMath.load8(cosRow + i)
      let s = SIMDMath.load8(sinRow + i)
      SIMDMath.store8(fusedMultiplyAdd(x0, c, -(x1 * s)), v + i)
      SIMDMath.store8(fusedMultiplyAdd(x0, s, x1 * c), w + i)
      i += 8
    }
    while i < half {
      let x0 = v[i]
      let x1 = w[i]
      v[i] = (-(x1 * sinRow[i])).addingProduct(x0, cosRow[i])
      w[i] = (x1 * cosRow[i]).addingProduct(x0, sinRow[i])
      i += 1
    }
  }

  /// (x[2i], x[2i+1]) → (x[2i]·cos - x[2i+1]·sin, x[2i]·sin + x[2i+1]·cos).
  @inline(__always)
  private static func rotateAdjacent(
    _ v: UnsafeMutablePointer<Float>, _ cosRow: UnsafePointer<Float>, _ sinRow: UnsafePointer<Float>,
    _ half: Int
  ) {
    var i = 0
    while i + 4 <= half {
      let pairs = SIMDMath.load8(v + 2 * i)
      let x0 = pairs.evenHalf
      let x1 = pairs.oddHalf
      let c = SIMDMath.load4(cosRow + i)
      let s = SIMDMath.load4(sinRow + i)
      let y0 = (-(x1 * s)).addingProduct(x0, c)
      let y1 = (x1 * c).addingProduct(x0, s)
      SIMDMath.store8(SIMD8(y0[0], y1[0], y0[1], y1[1], y0[2], y1[2], y0[3], y1[3]), v + 2 * i)
      i += 4
    }
    while i < half {
      let x0 = v[2 * i]
      let x1 = v[2 * i + 1]
      v[2 * i] = (-(x1 * sinRow[i])).addingProduct(x0, cosRow[i])
      v[2 * i + 1] = (x1 * cosRow[i]).addingProduct(x0, sinRow[i])
      i += 1
    }
  }
}

/// `a · b + c` rounded once, lane by lane.
@inline(__always)
private func fusedMultiplyAdd(_ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>) -> SIMD8<Float> {
  c.addingProduct(a, b)
}
