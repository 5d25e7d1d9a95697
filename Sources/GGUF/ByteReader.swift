/// A bounds-checked little-endian cursor over the mapped file. Every read checks the bytes left
/// first and throws `GGUFError.truncated` with the offset; nothing here trusts a size from the file.
struct ByteReader {
  let base: UnsafeRawBufferPointer
  var position: Int

  init(_ base: UnsafeRawBufferPointer, position: Int = 0) {
    self.base = base
    self.position = position
  }

  var remaining: Int { base.count - position }

  @inline(__always)
  mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws(GGUFError) {
    guard n >= 0, n <= remaining else {
      throw .truncated(offset: position, needed: n, available: remaining, reading: what())
    }
  }

  @inline(__always)
  mutating func read<T: FixedWidthInteger>(
    _: T.Type, _ what: @autoclosure () -> String
  ) throws(GGUFError) -> T {
    try need(MemoryLayout<T>.size, what())
    let v = base.loadUnaligned(fromByteOffset: position, as: T.self)
    position += MemoryLayout<T>.size
    return T(littleEndian: v)
  }

  mutating func u8(_ what: @autoclosure () -> String) throws(GGUFError) -> UInt8 {
    try read(UInt8.self, what())
  }
  mutating func u32(_ what: @autoclosure () -> String) throws(GGUFError) -> UInt32 {
    try read(UInt32.self, what())
  }
  mutating func u64(_ what: @autoclosure () -> String) throws(GGUFError) -> UInt64 {
    try read(UInt64.self, what())
  }

  /// A view of the next `n` bytes (no copy).
  mutating func bytes(_ n: Int, _ what: @autoclosure () -> String) throws(GGUFError)
    -> UnsafeRawBufferPointer
  {
    try need(n, what())
    let slice = UnsafeRawBufferPointer(rebasing: base[position..<position + n])
    position += n
    return slice
  }

  /// A UTF-8 string of `length` bytes (length already read); validated, never trusted.
  mutating func string(length: UInt64, _ what: @autoclosure () -> String) throws(GGUFError)
    -> String
  {
    let start = position
    guard length <= UInt64(remaining) else {
      throw .stringTooLong(offset: start, length: length, bytesLeft: remaining)
    }
    let raw = try bytes(Int(length), what())
    guard let s = String(validating: raw.bindMemory(to: UInt8.self), as: UTF8.self) else {
      throw .invalidUTF8(offset: start, context: what())
    }
    return s
  }

  /// Moves to `offset` rounded up to `alignment` (a power of two), if that is inside the buffer.
  mutating func align(to alignment: Int, _ what: @autoclosure () -> String) throws(GGUFError) {
    let padded = alignUp(position, alignment)
    guard let padded, padded <= base.count else {
      throw .truncated(
        offset: position, needed: (padded ?? Int.max) - position, available: remaining,
        reading: what())
    }
    position = padded
  }
}

/// `value` rounded up to a multiple of `alignment` (> 0), or nil on overflow.
@inline(__always)
func alignUp(_ value: Int, _ alignment: Int) -> Int? {
  let rem = value % alignment
  if rem == 0 { return value }
  let (r, o) = value.addingReportingOverflow(alignment - rem)
  return o ? nil : r
}
