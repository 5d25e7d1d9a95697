// get_rows: gather rows of a (possibly quantized) table into f32, e.g. token embeddings.

import GGML

extension CPUOps {
  /// `out[r] = dequantize(table[ids[r]])` for r in `rows`.
  /// Dense f32/f16/bf16 tables are converted directly; quantized ones through the type's reference
  /// dequantizer (`GGMLType.dequantizer`, the spec every fast path is tested against).
  /// - Parameters:
  ///   - table: `(tableRows, rowLength)` of `type`, rows packed (`type.byteCount(rowLength)` bytes).
  ///   - ids: `(nIds)` row ids; each must be in 0..<tableRows.
  ///   - out: `(nIds, rowLength)` f32, `outRowStride` apart.
  static func getRows(
    table: UnsafeRawPointer, type: GGMLType, rowLength: Int, tableRows: Int,
    ids: UnsafePointer<Int32>, into out: UnsafeMutablePointer<Float>, outRowStride: Int,
    rows: Range<Int>
  ) throws(CPUOpsError) {
    guard let rowBytes = type.byteCount(forElements: rowLength) else {
      throw .rowLengthNotMultipleOfBlock(type: type, rowLength: rowLength)
    }
    let dequantizer = type.dequantizer
    switch type {
    case .f32, .f16, .bf16: break
    default: if dequantizer == nil { throw .unsupportedType(type) }
    }
    for r in rows {
      let id = ids[r]
      guard id >= 0, Int(id) < tableRows else { throw .rowIdOutOfRange(id: id, rows: tableRows) }
      let src = table + Int(id) * rowBytes
      let dst = out + r * outRowStride
      switch type {
      case .f32:
        dst.update(from: src.assumingMemoryBound(to: Float.self), count: rowLength)
      case .f16:
        SIMDMath.halfToFloat(src.assumingMemoryBound(to: UInt16.self), dst, rowLength)
      case .bf16:
        let bits = src.assumingMemoryBound(to: UInt16.self)
        for i in 0..<rowLength { dst[i] = bf16ToFp32(bits[i]) }
      default:
        dequantizer?.dequantize(src, into: dst, count: rowLength)
      }
    }
  }
}
