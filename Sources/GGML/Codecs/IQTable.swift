/// One i-quant / IQ4 / MXFP4 lookup table as a read-only view of its C array in GGMLBlocks
/// (iq_tables.c, the one copy of the values). `IQTable.all` (generated in IQTables.swift) lists them
/// for code that must declare the same values elsewhere: the GPU kernel source.
public struct IQTable: Sendable {
  /// ggml's name of the table (the kernels use it too).
  public let name: String
  /// What the values are.
  public let doc: String
  /// The C element type's bit width and signedness.
  public let bits: Int
  public let isSigned: Bool
  /// Hex digits per value in printed form, 0 for decimal.
  public let hexDigits: Int
  /// The values, each widened: sign-extended for signed types, zero-extended otherwise.
  public let values: [Int64]

  init<T: FixedWidthInteger>(name: String, doc: String, values: UnsafeBufferPointer<T>, hexDigits: Int) {
    self.name = name
    self.doc = doc
    self.bits = T.bitWidth
    self.isSigned = T.isSigned
    self.hexDigits = hexDigits
    self.values = values.map { T.isSigned ? Int64($0) : Int64(bitPattern: UInt64($0)) }
  }
}
