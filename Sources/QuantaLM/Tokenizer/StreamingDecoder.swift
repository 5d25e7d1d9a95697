/// Turns a stream of token ids into text pieces that never split a UTF-8 character: bytes of an
/// incomplete character wait for the next token.
public struct StreamingDecoder: Sendable {
  private let tokenizer: Tokenizer
  private var pending: [UInt8] = []
  public let special: Bool

  public init(_ tokenizer: Tokenizer, special: Bool = false) {
    self.tokenizer = tokenizer
    self.special = special
  }

  /// The complete characters available after `id` (possibly empty).
  public mutating func append(_ id: Int32) -> String {
    pending += tokenizer.piece(id, special: special)
    let complete = Self.completePrefixLength(pending)
    guard complete > 0 else { return "" }
    let text = String(decoding: pending[..<complete], as: UTF8.self)
    pending.removeFirst(complete)
    return text
  }

  /// Whatever is left at the end of the stream (an incomplete character becomes U+FFFD).
  public mutating func flush() -> String {
    defer { pending.removeAll() }
    return pending.isEmpty ? "" : String(decoding: pending, as: UTF8.self)
  }

  /// Length of the longest prefix that does not end inside a UTF-8 sequence.
  static func completePrefixLength(_ bytes: [UInt8]) -> Int {
    var i = bytes.count
    // Walk back over at most 3 continuation bytes to the lead byte of the last character.
    var back = 0
    while i > 0, back < 4, bytes[i - 1] & 0xC0 == 0x80 {
      i -= 1
      back += 1
    }
    guard i > 0 else { return bytes.count > 3 ? bytes.count : 0 }
    let lead = bytes[i - 1]
    let need = Symbol.utf8Length(lead)
    if lead & 0xC0 == 0xC0 && back + 1 < need { return i - 1 }  // last character still incomplete
    return bytes.count
  }
}
