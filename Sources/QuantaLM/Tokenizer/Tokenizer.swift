import Foundation

/// Text ↔ token ids for a GGUF vocabulary, following llama.cpp's tokenizers (llama-vocab.cpp):
/// special tokens are split out first, then each stretch of plain text goes through SPM or BPE.
public final class Tokenizer: Sendable {
  public let vocabulary: Vocabulary
  /// Token text → id (first id wins on duplicates, as llama.cpp's map insertion does).
  let tokenToID: [String: Int32]
  /// Byte value → id of its `<0xXX>` token (SPM byte fallback) or GPT-2 byte char token (BPE).
  let byteTokens: [Int32?]
  /// Control, user-defined and unknown tokens, matched in text as whole units (longest first).
  let specialTrie: SpecialTokenTrie
  let bpe: BPEPreTokenizer?

  public init(_ vocabulary: Vocabulary) throws {
    self.vocabulary = vocabulary
    var map: [String: Int32] = [:]
    map.reserveCapacity(vocabulary.count)
    for (id, text) in vocabulary.tokens.enumerated() where map[text] == nil {
      map[text] = Int32(id)
    }
    tokenToID = map
    var bytes = [Int32?](repeating: nil, count: 256)
    for b in 0..<256 {
      switch vocabulary.model {
      case .spm:
        let hex = "<0x" + String(b, radix: 16, uppercase: true).leftPadded(to: 2) + ">"
        bytes[b] = map[hex]
      case .bpe:
        bytes[b] = map[String(GPT2Bytes.unicode(for: UInt8(b)))]
      }
    }
    byteTokens = bytes
    var trie = SpecialTokenTrie()
    for (id, type) in vocabulary.types.enumerated()
    where type == .control || type == .userDefined || type == .unknown {
      let text = vocabulary.tokens[id]
      if !text.isEmpty { trie.insert(Array(text.utf8), id: Int32(id), type: type) }
    }
    specialTrie = trie
    bpe = vocabulary.model == .bpe ? try BPEPreTokenizer(name: vocabulary.preTokenizer) : nil
  }

  /// Token ids of `text`.
  /// - Parameters:
  ///   - addSpecial: add BOS/EOS as the vocabulary asks (`add_bos_token`, `add_eos_token`).
  ///   - parseSpecial: recognize control tokens written in the text (`<start_of_turn>`) as single
  ///     ids; user-defined tokens are always recognized, as in llama.cpp.
  public func encode(_ text: String, addSpecial: Bool = true, parseSpecial: Bool = false) -> [Int32] {
    var output: [Int32] = []
    if addSpecial, vocabulary.addBOS, let bos = vocabulary.bos { output.append(bos) }
    var isPreviousSpecial = true
    for fragment in specialTrie.partition(Array(text.utf8), parseSpecial: parseSpecial) {
      switch fragment {
      case .token(let id):
        output.append(id)
        isPreviousSpecial = true
      case .text(let bytes):
        switch vocabulary.model {
        case .spm:
          var piece = bytes
          // llama.cpp prefixes a space after BOS/special tokens when add_space_prefix is set.
          if vocabulary.addSpacePrefix && isPreviousSpecial { piece.insert(0x20, at: 0) }
          encodeSPM(escapeWhitespace(piece), into: &output)
        case .bpe:
          encodeBPE(bytes, into: &output)
        }
        isPreviousSpecial = false
      }
    }
    if addSpecial, vocabulary.addEOS, let eos = vocabulary.eos { output.append(eos) }
    return output
  }

  /// The bytes a token stands for. Control tokens give nothing unless `special` is set.
  public func piece(_ id: Int32, special: Bool = false) -> [UInt8] {
    guard id >= 0, Int(id) < vocabulary.count else { return [] }
    let text = vocabulary.tokens[Int(id)]
    switch vocabulary.types[Int(id)] {
    case .control, .unused:
      return special ? Array(text.utf8) : []
    case .unknown:
      return special ? Array(text.utf8) : Array("\u{2585}".utf8)  // llama.cpp prints ▅ for unknown
    case .userDefined:
      return Array(text.utf8)
    case .byte:
      if vocabulary.model == .spm, let b = parseByteToken(text) { return [b] }
      return Array(text.utf8)
    case .normal, .undefined:
      switch vocabulary.model {
      case .spm: return unescapeWhitespace(Array(text.utf8))
      case .bpe: return GPT2Bytes.decode(text)
      }
    }
  }

  /// Text of a whole sequence (invalid UTF-8 is repaired with U+FFFD).
  public func decode(_ ids: [Int32], special: Bool = false) -> String {
    var bytes: [UInt8] = []
    for id in ids { bytes += piece(id, special: special) }
    return String(decoding: bytes, as: UTF8.self)
  }

  // MARK: SPM (llm_tokenizer_spm)

  private func escapeWhitespace(_ bytes: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count + bytes.count / 2)
    for b in bytes {
      if b == 0x20 { out += [0xE2, 0x96, 0x81] } else { out.append(b) }  // ' ' → ▁ (U+2581)
    }
    return out
  }

  private func unescapeWhitespace(_ bytes: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var i = 0
    while i < bytes.count {
      if i + 2 < bytes.count, bytes[i] == 0xE2, bytes[i + 1] == 0x96, bytes[i + 2] == 0x81 {
        out.append(0x20)
        i += 3
      } else {
        out.append(bytes[i])
        i += 1
      }
    }
    return out
  }

  private func id(of bytes: ArraySlice<UInt8>) -> Int32? {
    tokenToID[String(decoding: bytes, as: UTF8.self)]
  }

  private func encodeSPM(_ text: [UInt8], into output: inout [Int32]) {
    var symbols = Symbol.split(text)
    guard !symbols.isEmpty else { return }
    var queue = BigramQueue()
    // rev_merge: which two symbols formed a merged text, to resegment non-tokens.
    var reverseMerge: [String: (Int, Int)] = [:]

    func tryAddBigram(_ left: Int, _ right: Int) {
      guard left >= 0, right >= 0 else { return }
      let start = symbols[left].start
      let end = symbols[right].start + symbols[right].count
      let slice = text[start..<end]
      guard let token = id(of: slice) else { return }
      queue.push(Bigram(left: left, right: right, score: vocabulary.scores[Int(token)], size: end - start))
      reverseMerge[String(decoding: slice, as: UTF8.self)] = (left, right)
    }

    for i in 1..<symbols.count { tryAddBigram(i - 1, i) }
    while let bigram = queue.pop() {
      let l = bigram.left
      let r = bigram.right
      guard symbols[l].count > 0, symbols[r].count > 0,
        symbols[l].count + symbols[r].count == bigram.size
      else { continue }
      Symbol.merge(&symbols, l, r)
      tryAddBigram(symbols[l].prev, l)
      tryAddBigram(l, symbols[l].next)
    }

    func resegment(_ index: Int) {
      let s = symbols[index]
      let slice = text[s.start..<(s.start + s.count)]
      if let token = id(of: slice) {
        output.append(token)
        return
      }
      if let (a, b) = reverseMerge[String(decoding: slice, as: UTF8.self)] {
        resegment(a)
        resegment(b)
        return
      }
      // Byte fallback: each byte as its <0xXX> token (or UNK when the vocabulary has none).
      for byte in slice {
        if let t = byteTokens[Int(byte)] {
          output.append(t)
        } else if let unk = vocabulary.unknown {
          output.append(unk)
        }
      }
    }
    var i = 0
    while i != -1 {
      resegment(i)
      i = symbols[i].next
    }
  }

  // MARK: BPE (llm_tokenizer_bpe)

  private func encodeBPE(_ text: [UInt8], into output: inout [Int32]) {
    guard let bpe else { return }
    for word in bpe.split(String(decoding: text, as: UTF8.self)) {
      let encoded = Array(GPT2Bytes.encode(Array(word.utf8)).utf8)
      var symbols = Symbol.split(encoded)
      guard !symbols.isEmpty else { continue }
      var queue = BigramQueue()

      func tryAddBigram(_ left: Int, _ right: Int) {
        guard left >= 0, right >= 0 else { return }
        let a = String(
          decoding: encoded[symbols[left].start..<(symbols[left].start + symbols[left].count)], as: UTF8.self)
        let b = String(
          decoding: encoded[symbols[right].start..<(symbols[right].start + symbols[right].count)],
          as: UTF8.self)
        guard let rank = vocabulary.mergeRanks[a + " " + b] else { return }
        // Lower rank merges first: store the negated rank as the score.
        queue.push(Bigram(left: left, right: right, score: -Float(rank), size: a.utf8.count + b.utf8.count))
      }
      for i in 1..<symbols.count { tryAddBigram(i - 1, i) }
      while let bigram = queue.pop() {
        let l = bigram.left
        let r = bigram.right
        guard symbols[l].count > 0, symbols[r].count > 0,
          symbols[l].count + symbols[r].count == bigram.size,
          symbols[l].next == r
        else { continue }
        Symbol.merge(&symbols, l, r)
        tryAddBigram(symbols[l].prev, l)
        tryAddBigram(l, symbols[l].next)
      }
      var i = 0
      while i != -1 {
        let s = symbols[i]
        let slice = encoded[s.start..<(s.start + s.count)]
        if let token = id(of: slice) {
          output.append(token)
        } else {
          // Not a token: emit each (byte-encoded) character's token.
          for ch in String(decoding: slice, as: UTF8.self) {
            if let t = tokenToID[String(ch)] { output.append(t) }
          }
        }
        i = s.next
      }
    }
  }
}

/// One symbol of the merge loops: a byte range of the text in a doubly linked list.
struct Symbol {
  var start: Int
  var count: Int
  var prev: Int
  var next: Int

  /// Joins symbol `r` into its left neighbour `l` (llama.cpp's merge step of both tokenizers): `l`
  /// spans both, `r` is emptied and unlinked.
  static func merge(_ symbols: inout [Symbol], _ l: Int, _ r: Int) {
    symbols[l].count += symbols[r].count
    symbols[r].count = 0
    symbols[l].next = symbols[r].next
    if symbols[r].next >= 0 { symbols[symbols[r].next].prev = l }
  }

  /// Splits UTF-8 bytes into one symbol per character (a truncated tail counts as one).
  static func split(_ text: [UInt8]) -> [Symbol] {
    var symbols: [Symbol] = []
    var offset = 0
    while offset < text.count {
      let length = min(utf8Length(text[offset]), text.count - offset)
      let index = symbols.count
      symbols.append(Symbol(start: offset, count: length, prev: index - 1, next: -1))
      offset += length
      if offset < text.count { symbols[index].next = index + 1 }
    }
    return symbols
  }

  static func utf8Length(_ lead: UInt8) -> Int {
    switch lead >> 4 {
    case 0xF: return 4
    case 0xE: return 3
    case 0xC, 0xD: return 2
    default: return 1
    }
  }
}

struct Bigram {
  let left: Int
  let right: Int
  let score: Float
  let size: Int
}

/// Max-heap on score; ties go to the leftmost pair (llama.cpp's comparator).
struct BigramQueue {
  private var heap: [Bigram] = []

  private static func before(_ a: Bigram, _ b: Bigram) -> Bool {
    a.score > b.score || (a.score == b.score && a.left < b.left)
  }

  mutating func push(_ b: Bigram) {
    heap.append(b)
    var i = heap.count - 1
    while i > 0 {
      let parent = (i - 1) / 2
      guard Self.before(heap[i], heap[parent]) else { break }
      heap.swapAt(i, parent)
      i = parent
    }
  }

  mutating func pop() -> Bigram? {
    guard !heap.isEmpty else { return nil }
    let top = heap[0]
    let last = heap.removeLast()
    if !heap.isEmpty {
      heap[0] = last
      var i = 0
      while true {
        let l = 2 * i + 1
        let r = l + 1
        var best = i
        if l < heap.count, Self.before(heap[l], heap[best]) { best = l }
        if r < heap.count, Self.before(heap[r], heap[best]) { best = r }
        if best == i { break }
        heap.swapAt(i, best)
        i = best
      }
    }
    return top
  }
}

func parseByteToken(_ text: String) -> UInt8? {
  // "<0xAB>"
  let u = Array(text.utf8)
  guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
  return UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
}

extension String {
  func leftPadded(to width: Int) -> String {
    count >= width ? self : String(repeating: "0", count: width - count) + self
  }
}
