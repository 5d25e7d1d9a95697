/// Dequantizers of the grid i-quants (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M):
/// ports of ggml's `dequantize_row_*`, with the same float operations in the same order.
/// ggml has no `quantize_row_*_ref` for these types (they need an importance matrix search), so
/// they are dequantize-only here.

private let QK_K = 256
private let IQ1S_DELTA: Float = 0.125

/// Byte `j` (0-based, little end first) of a grid row.
@inline(__always)
private func gridByte(_ row: UInt64, _ j: Int) -> UInt8 {
  UInt8(truncatingIfNeeded: row >> UInt64(8 * j))
}

@inline(__always)
private func gridByte(_ row: UInt32, _ j: Int) -> UInt8 {
  UInt8(truncatingIfNeeded: row >> UInt32(8 * j))
}

/// ±1 as ggml writes it: `signs & kmask_iq2xs[j] ? -1.f : 1.f`.
@inline(__always)
private func sign(_ signs: UInt8, _ j: Int) -> Float {
  signs & kmask_iq2xs[j] != 0 ? -1 : 1
}

/// block_iq2_xxs: d (f16) at 0, qs (u16 × 32) at 2; 66 bytes. Per 32 values, two u32: four grid
/// indices, then 4 × 7 sign bits and a 4-bit scale.
enum IQ2_XXSCodec: GGMLDequantizer {
  static let type = GGMLType.iq2_xxs

  static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
    var y = dst
    for i in 0..<(count / QK_K) {
      let block = src + i * 66
      let d = block.loadHalf(at: 0)
      for ib32 in 0..<(QK_K / 32) {
        let aux0 = block.loadLE(at: 2 + 8 * ib32, as: UInt32.self)
        let aux1 = block.loadLE(at: 2 + 8 * ib32 + 4, as: UInt32.self)
        let db = d * (0.5 + Float(aux1 >> 28)) * 0.25
        for l in 0..<4 {
          let grid = iq2xxs_grid[Int((aux0 >> UInt32(8 * l)) & 0xff)]
          let signs = ksigns_iq2xs[Int((aux1 >> UInt32(7 * l)) & 127)]
          for j in 0..<8 {
            y[j] = db * Float(gridByte(grid, j)) * sign(signs, j)
          }
          y += 8
        }
      }
    }
  }
}

/// block_iq2_xs: d (f16) at 0, qs (u16 × 32) at 2, scales[8] at 66; 74 bytes. Each u16: 9-bit grid
/// index, 7 sign bits.
enum IQ2_XSCodec: GGMLDequantizer {
  static let type = GGMLType.iq2_xs

  static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
    var y = dst
    for i in 0..<(count / QK_K) {
      let block = src + i * 74
      let d = block.loadHalf(at: 0)
      for ib32 in 0..<(QK_K / 32) {
        let sc = block.load(fromByteOffset: 66 + ib32, as: UInt8.self)
        let db0 = d * (0.5 + Float(sc & 0xf)) * 0.25
        let db1 = d * (0.5 + Float(sc >> 4)) * 0.25
        for l in 0..<4 {
          let q = block.loadLE(at: 2 + 2 * (4 * ib32 + l), as: UInt16.self)
          let grid = iq2xs_grid[Int(q & 511)]
          let signs = ksigns_iq2xs[Int(q >> 9)]
          let db = l / 2 == 0 ? db0 : db1
          for j in 0..<8 {
            y[j] = db * Float(gridByte(grid, j)) * sign(signs, j)
          }
          y += 8
        }
      }
    }
  }
}

/// block_iq2_s: d (f16) at 0, qs[64] at 2 (32 grid-index low bytes, then 32 sign bytes), qh[8] at
/// 66, scales[8] at 74; 82 bytes.
enum IQ2_SCodec: GGMLDequantizer {
  static let type = GGMLType.iq2_s

  static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
    var y = dst
    for i in 0..<(count / QK_K) {
      let block = src + i * 82
      let d = block.loadHalf(at: 0)
      for ib32 in 0..<(QK_K / 32) {
        let sc = block.load(fromByteOffset: 74 + ib32, as: UInt8.self)
        let db0 = d * (0.5 + Float(sc & 0xf)) * 0.25
        let db1 = d * (0.5 + Float(sc >> 4)) * 0.25
        let qh = Int(block.load(fromByteOffset: 66 + ib32, as: UInt8.self))
        for l in 0..<4 {
          let dl = l / 2 == 0 ? db0 : db1
          let qs = Int(block.load(fromByteOffset: 2 + 4 * ib32 + l, as: UInt8.self))
          let grid = iq2s_grid[qs | ((qh << (8 - 2 * l)) & 0x300)]
          let signs = block.load(fromByteOffset: 2 + 32 + 4 * ib32 + l, as: UInt8.self)
          for j in 0..<8 {
            y[j] = dl * Float(gridByte(grid, j)) * sign(signs, j)
          }
          y += 8
        }
      }
    }
  }
}

/// block_iq3_xxs: d (f16) at 0, qs[96] at 2: 64 grid indices, then per 32 values a u32 of 4 × 7
/// sign bits and a 4-bit scale; 98 bytes.
enum IQ3_XXSCodec: GGMLDequantizer {
  static let type = GGMLType.iq3_xxs

  static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
    var y = dst
    for i in 0..<(count / QK_K) {
      let block = src + i * 98
      let d = block.loadHalf(at: 0)
      for ib32 in 0..<(QK_K / 32) {
        let aux32 = block.loadLE(at: 2 + QK_K / 4 + 4 * ib32, as: UInt32.self)
        let db = d * (0.5 + Float(aux32 >> 28)) * 0.5
        let qs = 2 + 8 * ib32
        for l in 0..<4 {
          let signs = ksigns_iq2xs[Int((aux32 >> UInt32(7 * l)) & 127)]
          let grid1 = iq3xxs_grid[Int(block.load(fromByteOffset: qs + 2 * l, as: UInt8.self))]
          let grid2 = iq3xxs_grid[Int(block.load(fromByteOffset: qs + 2 * l + 1, as: UInt8.self))]
          for j in 0..<4 {
            y[j] = db * Float(gridByte(grid1, j)) * sign(signs, j)
            y[j + 4] = db * Float(gridByte(grid2, j)) * sign(signs, j + 4)
          }
          y += 8
        }
      }
    }
  }
}

/// block_iq3_s: d (f16) at 0, qs[64] at 2, qh[8] at 66, signs[32] at 74, scales[4] at 106;
/// 110 bytes.
enum IQ3_SCodec: GGMLDequantizer {
  static let type = GGMLType.iq3_s

  static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
    var y = dst
    for i in 0..<(count / QK_K) {
      let block = src + i * 110
      let d = block.loadHalf(at: 0)
      var qs = 2
      var qh = 66
      var signs = 74
      for ib32 in stride(from: 0, to: QK_K / 32, by: 2) {
        let sc = block.load(fromByteOffset: 106 + ib32 / 2, as: UInt8.self)
        let db1 = d * Float(1 + 2 * Int(sc & 0xf))
        let db2 = d * Float(1 + 2 * Int(sc >> 4))
        for half in 0..<2 {
          let db = half == 0 ? db1 : db2
          let h = Int(block.load(fromByteOffset: qh + half, as: UInt8.self))
          for l in 0..<4 {
            let q1 = Int(block.load(fromByteOffset: qs + 2 * l, as: UInt8.self))
            let q2 = Int(block.load(fromByteOffset: qs + 2 * l + 1, as: UInt8.self))
            let grid1 = iq3s_grid[q1 | ((h << (8 - 2 * l)) & 256)]
            let grid2 = iq3s_grid[q2 | ((h << (7 - 2 * l)) & 256)]
            let s = block.load(fromByteOffset: signs + l, as: UInt8.self)
            for j in 0..<4 {
              y[j] = db * Float(gridByte(grid1, j)) * sign(s, j)
              y[j + 4] = db * Float(gridByte(grid2, j)) * sign(s, j + 4)
            }
            y += 8
          }
          qs += 8
          signs += 4
        }
        qh += 2
      }
    }
  }
}

/// block_iq1_s: d (f16) at 0, qs[32] at 2, qh (u16 × 8) at 34; 50 bytes. Grid values are int8
/// in {-1, 0, 1}, shifted by ±IQ1S_DELTA.
enum IQ1_SCodec: GGMLDequantizer {
  static let type = GGMLType.iq1_s

  static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
    var y = dst
    for i in 0..<(count / QK_K) {
      let block = src + i * 50
      let d = block.loadHalf(at: 0)
      for ib in 0..<(QK_K / 32) {
        let qh = Int(block.loadLE(at: 34 + 2 * ib, as: UInt16.self))
        let dl = d * Float(2 * ((qh >> 12) & 7) + 1)
        let delta = qh & 0x8000 != 0 ? -IQ1S_DELTA : IQ1S_DELTA
        for l in 0..<4 {
          let qs = Int(block.load(fromByteOffset: 2 + 4 * ib + l, as: UInt8.self))
          let grid = iq1s_grid[qs | (((qh >> (3 * l)) & 7) << 8)]
          for j in 0..<8 {
            y[j] = dl * (Float(Int8(bitPattern: gridByte(grid, j))) + delta)
          }
          y += 8
        }
      }
    }
  }
}

/// block_iq1_m: qs[32] at 0, qh[16] at 32, scales[8] at 48; 56 bytes. The f16 super-block scale
/// is the top nibbles of the four u16 scale words (ggml's `iq1m_scale_t`).
enum IQ1_MCodec: GGMLDequantizer {
  static let type = GGMLType.iq1_m

  static func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
    var y = dst
    for i in 0..<(count / QK_K) {
      let block = src + i * 56
      let sc0 = block.loadLE(at: 48, as: UInt16.self)
      let sc1 = block.loadLE(at: 50, as: UInt16.self)
      let sc2 = block.loadLE(at: 52, as: UInt16.self)
      let sc3 = block.loadLE(at: 54, as: UInt16.self)
      let scaleBits = (sc0 >> 12) | ((sc1 >> 8) & 0x00f0) | ((sc2 >> 4) & 0x0f00) | (sc3 & 0xf000)
      let d = fp16ToFp32(scaleBits)
      for ib in 0..<(QK_K / 32) {
        let s = Int(block.loadLE(at: 48 + 2 * (ib / 2), as: UInt16.self))
        let dl1 = d * Float(2 * ((s >> (6 * (ib % 2) + 0)) & 0x7) + 1)
        let dl2 = d * Float(2 * ((s >> (6 * (ib % 2) + 3)) & 0x7) + 1)
        for l in 0..<4 {
          // Each qh byte serves two groups of 8: low nibble the first, high nibble the second.
          let qh = Int(block.load(fromByteOffset: 32 + 2 * ib + l / 2, as: UInt8.self))
          let qs = Int(block.load(fromByteOffset: 4 * ib + l, as: UInt8.self))
          let idx = qs | ((qh << (l % 2 == 0 ? 8 : 4)) & 0x700)
          let delta = qh & (l % 2 == 0 ? 0x08 : 0x80) != 0 ? -IQ1S_DELTA : IQ1S_DELTA
          let dl = l < 2 ? dl1 : dl2
          let grid = iq1s_grid[idx]
          for j in 0..<8 {
            y[j] = dl * (Float(Int8(bitPattern: gridByte(grid, j))) + delta)
          }
          y += 8
        }
      }
    }
  }
}
