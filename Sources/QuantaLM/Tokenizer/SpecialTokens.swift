/// A byte trie of the special tokens (control, user-defined, unknown), to split text into plain
/// stretches and whole special tokens in one left-to-right pass (longest match wins).
struct SpecialTokenTrie: Sendable {
  private struct Node: Sendable {
    var children: [UInt8: Int32] = [:]
    var token: Int32 = -1
    var type: Vocabulary.TokenType = .normal
  }
  private var nodes: [Node] = [Node()]

  enum Fragment: Equatable {
    case text([UInt8])
    case token(Int32)
  }

  mutating func insert(_ bytes: [UInt8], id: Int32, type: Vocabulary.TokenType) {
    var node = 0
    for b in bytes {
      if let next = nodes[node].children[b] {
        node = Int(next)
      } else {
        nodes.append(Node())
        nodes[node].children[b] = Int32(nodes.count - 1)
        node = nodes.count - 1
      }
    }
    if nodes[node].token < 0 {
      nodes[node].token = id
      nodes[node].type = type
    }
  }

  /// The longest special token starting at `start` that may be matched, as (id, length).
  private func longestMatch(_ text: [UInt8], at start: Int, parseSpecial: Bool) -> (Int32, Int)? {
    var node = 0
    var best: (Int32, Int)?
    var i = start
    while i < text.count, let next = nodes[node].children[text[i]] {
      node = Int(next)
      i += 1
      let n = nodes[node]
      // As llama.cpp: control and unknown tokens only when parsing specials; user-defined always.
      if n.token >= 0 && (parseSpecial || n.type == .userDefined) { best = (n.token, i - start) }
    }
    return best
  }

  func partition(_ text: [UInt8], parseSpecial: Bool) -> [Fragment] {
    var fragments: [Fragment] = []
    var plainStart = 0
    var i = 0
    while i < text.count {
      if nodes[0].children[text[i]] != nil,
        let (token, length) = longestMatch(text, at: i, parseSpecial: parseSpecial)
      {
        if plainStart < i { fragments.append(.text(Array(text[plainStart..<i]))) }
        fragments.append(.token(token))
        i += length
        plainStart = i
      } else {
        i += 1
      }
    }
    if plainStart < text.count { fragments.append(.text(Array(text[plainStart...]))) }
    return fragments
  }
}
