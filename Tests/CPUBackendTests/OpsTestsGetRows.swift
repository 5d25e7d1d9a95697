import Foundation
import GGML
import Testing

@testable import CPUBackend

@Suite struct OpsTestsGetRows {
  static let ids: [Int32] = [3, 0, 6, 3, 1]

  /// Gathers `ids` from a table of `tableRows` rows, two calls over split id ranges.
  static func gather(
    _ table: [UInt8], type: GGMLType, rowLength: Int, tableRows: Int, ids: [Int32] = ids
  ) throws -> [Float] {
    let stride = rowLength + 1
    var out = [Float](repeating: .nan, count: ids.count * stride)
    try table.withUnsafeBytes { raw in
      try out.withUnsafeMutableBufferPointer { dst in
        for range in [0..<min(2, ids.count), min(2, ids.count)..<ids.count] {
          try CPUOps.getRows(
            table: raw.baseAddress!, type: type, rowLength: rowLength, tableRows: tableRows, ids: ids,
            into: dst.baseAddress!, outRowStride: stride, rows: range)
        }
      }
    }
    return ids.indices.flatMap { out[($0 * stride)..<($0 * stride + rowLength)] }
  }

  /// Quantized tables: each gathered row equals the reference dequantization of that row.
  @Test(arguments: [GGMLType.q8_0, .q4_0, .q4_K, .q6_K, .q5_K])
  func quantized(type: GGMLType) throws {
    let rowLength = 2 * 256
    let tableRows = 7
    var rng = OpsReference.Random(seed: UInt64(type.rawValue))
    let values = rng.floats(tableRows * rowLength, -3, 3)
    let table = try type.quantize(values)
    let all = try type.dequantize(table, count: tableRows * rowLength)
    let got = try Self.gather(table, type: type, rowLength: rowLength, tableRows: tableRows)
    let want = Self.ids.flatMap { all[(Int($0) * rowLength)..<(Int($0) * rowLength + rowLength)] }
    #expect(got == want)
  }

  @Test(arguments: [1, 7, 8, 19, 640])
  func dense(rowLength: Int) throws {
    let tableRows = 7
    var rng = OpsReference.Random(seed: UInt64(rowLength))
    let values = rng.floats(tableRows * rowLength, -1000, 1000)
    let want = Self.ids.flatMap { values[(Int($0) * rowLength)..<(Int($0) * rowLength + rowLength)] }

    let f32 = values.withUnsafeBytes { Array($0) }
    #expect(try Self.gather(f32, type: .f32, rowLength: rowLength, tableRows: tableRows) == want)

    let halves = values.map(fp32ToFp16)
    let f16 = halves.withUnsafeBytes { Array($0) }
    let wantF16 = Self.ids.flatMap { id in
      (0..<rowLength).map { fp16ToFp32(halves[Int(id) * rowLength + $0]) }
    }
    #expect(try Self.gather(f16, type: .f16, rowLength: rowLength, tableRows: tableRows) == wantF16)

    let brains = values.map(fp32ToBf16)
    let bf16 = brains.withUnsafeBytes { Array($0) }
    let wantBF16 = Self.ids.flatMap { id in
      (0..<rowLength).map { bf16ToFp32(brains[Int(id) * rowLength + $0]) }
    }
    #expect(try Self.gather(bf16, type: .bf16, rowLength: rowLength, tableRows: tableRows) == wantBF16)
  }

  @Test func badInputsAreTypedErrors() throws {
    let table = [UInt8](repeating: 0, count: 4 * 8 * 4)
    #expect(throws: CPUOpsError.rowIdOutOfRange(id: 4, rows: 4)) {
      try Self.gather(table, type: .f32, rowLength: 8, tableRows: 4, ids: [0, 1, 4])
    }
    #expect(throws: CPUOpsError.rowIdOutOfRange(id: -2, rows: 4)) {
      try Self.gather(table, type: .f32, rowLength: 8, tableRows: 4, ids: [-2])
    }
    #expect(throws: CPUOpsError.rowLengthNotMultipleOfBlock(type: .q8_0, rowLength: 40)) {
      try Self.gather(table, type: .q8_0, rowLength: 40, tableRows: 1, ids: [0])
    }
    #expect(throws: CPUOpsError.unsupportedType(.i32)) {
      try Self.gather(table, type: .i32, rowLength: 8, tableRows: 4, ids: [0])
    }
  }
}
