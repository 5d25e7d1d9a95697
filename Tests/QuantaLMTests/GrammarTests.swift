import Foundation
import Testing

@testable import QuantaLM

/// The GBNF parser and matcher. The grammars are llama.cpp's (`Tests/Grammars/llama.cpp/`, copies
/// of the llama-cpp-python 0.3.36 sdist's `vendor/llama.cpp/grammars/`); the accepted and rejected
/// texts are written by hand from what each grammar means.
@Suite struct GrammarTests {
  static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Grammars")

  static func llamaGrammar(_ name: String) throws -> Grammar {
    let text = try String(
      contentsOf: folder.appendingPathComponent("llama.cpp/\(name).gbnf"), encoding: .utf8)
    return try Grammar(text)
  }

  static let names = ["arithmetic", "c", "chess", "english", "japanese", "json", "json_arr", "list"]

  @Test func everyLlamaCppGrammarParses() throws {
    let files = try FileManager.default.contentsOfDirectory(
      atPath: Self.folder.appendingPathComponent("llama.cpp").path
    )
    .filter { $0.hasSuffix(".gbnf") }.map { String($0.dropLast(5)) }.sorted()
    #expect(files == Self.names)
    for name in files {
      let g = try Self.llamaGrammar(name)
      #expect(g.ruleNames.contains("root"), "\(name)")
      #expect(!GrammarMatcher(g).stacks.isEmpty, "\(name)")
    }
  }

  /// (grammar, text, whole sentence of the grammar?)
  static let sentences: [(String, String, Bool)] = [
    ("arithmetic", "a+1=b\n", true),
    ("arithmetic", "1 +2 = 3\n(x*2)=y\n", true),
    ("arithmetic", "1 + 2=3\n", false),  // no space before a term
    ("arithmetic", "a+=b\n", false),
    ("arithmetic", "a=b", false),  // the line must end with a newline
    ("arithmetic", "A=b\n", false),  // identifiers are lower case
    ("chess", "1. e4 e5\n2. Nf3 Nc6\n", true),
    ("chess", "1. e4 e5\n2. O-O-O Qxd8#\n", true),
    ("chess", "1. e4 e5\n", false),  // at least one more move pair
    ("chess", "1. e9 e5\n2. d4 d5\n", false),  // rank 9
    ("list", "- milk\n- eggs\n", true),
    ("list", "- \n", false),
    ("list", "milk\n", false),
    ("list", "- a\u{2028}b\n", false),  // a line separator inside an item
    ("json", #"{"a": [1, -2.5e3, true, null, {"b": "x\u00e9\n"}]}"#, true),
    ("json", "{}", true),
    ("json", "{\"k\":\"caf\u{e9} \u{1F600}\"}", true),
    ("json", "[1]", false),  // the root is an object
    ("json", #"{"a":01}"#, false),
    ("json", #"{"a": 'x'}"#, false),
    ("json", "{\"a\":\"line\nbreak\"}", false),  // a raw control character in a string
    ("json", #"{"a":"\q"}"#, false),
    ("json", #"{"a":1"#, false),
    ("json_arr", "[\n1,\n{\"a\": \"b\"}]", true),
    ("json_arr", "[1]", false),
    ("english", "Hello, world! 42", true),
    ("english", "h\u{e9}llo", false),
    ("english", "", false),
    ("japanese", "\u{3053}\u{3093}\u{306B}\u{3061}\u{306F} \u{30AB}\u{30BF}\u{4E16}\u{3002}", true),
    ("japanese", "hello", false),
    ("c", "int main(){return 0;}", true),
    ("c", "int f(int x){y = x*2;while(y>0){y = y-1;}return y;}", true),
    ("c", "int main(){return 0}", false),  // no semicolon
    ("c", "main(){}", false),  // no return type
  ]

  @Test func llamaCppGrammarsAcceptAndReject() throws {
    var grammars: [String: Grammar] = [:]
    for (name, text, whole) in Self.sentences {
      if grammars[name] == nil { grammars[name] = try Self.llamaGrammar(name) }
      #expect(GrammarMatcher.matches(grammars[name]!, text) == whole, "\(name): \(text.debugDescription)")
    }
  }

  /// A prefix that the grammar can continue is accepted token by token, but is not a sentence.
  @Test func prefixesAdvanceButDoNotEnd() throws {
    let g = try Self.llamaGrammar("json")
    var m = GrammarMatcher(g)
    for piece in ["{", "\"ke", "y\": [", "1", ",", " 2", "]"] {
      do {
        let taken = m.accept(bytes: Array(piece.utf8))
        #expect(taken, "\(piece)")
      }
      #expect(!m.canEnd)
    }
    do {
      let taken = m.accept(bytes: Array("]".utf8))
      #expect(!taken)
    }
    do {
      let taken = m.accept(bytes: Array("}".utf8))
      #expect(taken)
    }
    #expect(m.canEnd)
    // ws may follow, then nothing.
    do {
      let taken = m.accept(bytes: Array(" ".utf8))
      #expect(taken)
    }
    do {
      let taken = m.accept(bytes: Array("x".utf8))
      #expect(!taken)
    }
  }

  /// A character split across tokens: the first token's lead byte is allowed when some character
  /// it may become fits the grammar; the next token must complete it.
  @Test func partialUTF8AcrossTokens() throws {
    let g = try Self.llamaGrammar("japanese")
    let ko = Array("\u{3053}".utf8)  // E3 81 93, hiragana
    var m = GrammarMatcher(g)
    do {
      let taken = m.accept(bytes: [ko[0]])
      #expect(taken)
    }
    #expect(!m.canEnd)
    #expect(!m.accepts(bytes: Array("a".utf8)))  // not a continuation byte
    do {
      let taken = m.accept(bytes: [ko[1], ko[2]])
      #expect(taken)
    }
    #expect(m.canEnd)
    var n = GrammarMatcher(g)
    do {
      let taken = n.accept(bytes: [ko[0], ko[1]])
      #expect(taken)
    }
    do {
      let taken = n.accept(bytes: [ko[2]])
      #expect(taken)
    }
    #expect(n.canEnd)
    // C3 starts U+00C0...U+00FF: no Japanese character can follow from it.
    #expect(!GrammarMatcher(g).accepts(bytes: [0xC3]))
    // A continuation byte cannot start a token's text; NUL is never text.
    #expect(!GrammarMatcher(g).accepts(bytes: [0x81]))
    #expect(!GrammarMatcher(g).accepts(bytes: [0]))
    #expect(!GrammarMatcher(g).accepts(bytes: []))
    // An ASCII-only grammar refuses any multi-byte lead.
    let ascii = try Grammar("root ::= [a-z]+")
    #expect(!GrammarMatcher(ascii).accepts(bytes: [0xE3]))
    // A negated class allows a lead byte: most characters it starts are not excluded.
    let notX = try Grammar("root ::= [^x]")
    #expect(GrammarMatcher(notX).accepts(bytes: [0xE3]))
  }

  @Test func repetitionsClassesAndEscapes() throws {
    let cases: [(String, [String], [String])] = [
      (#"root ::= "a"{2,4}"#, ["aa", "aaa", "aaaa"], ["a", "aaaaa", ""]),
      (#"root ::= "a"{3}"#, ["aaa"], ["aa", "aaaa"]),
      (#"root ::= "a"{2,}"#, ["aa", String(repeating: "a", count: 50)], ["a"]),
      (#"root ::= "a"{0,5000}"#, ["", String(repeating: "a", count: 3000)], ["b"]),  // past 2000: no maximum
      (#"root ::= "ab"? "c"+ "d"*"#, ["c", "abcc", "ccddd"], ["ab", "abd", "d"]),
      (#"root ::= ("x" | "yz")+ ".""#, ["x.", "yzxyz."], [".", "y.", "xy."]),
      ("root ::= [^abc]", ["d", "\u{e9}", "\n"], ["a", "c", "dd"]),
      ("root ::= [a-cx]", ["a", "b", "x"], ["d", "y"]),
      ("root ::= .", ["q", "\n", "\u{1F600}"], ["", "ab"]),
      (#"root ::= "\x41\u00e9\U0001F600\t\n\r\\\"\[\]\-""#, ["A\u{e9}\u{1F600}\t\n\r\\\"[]-"], ["A"]),
      ("root ::= [\\x30-\\x32\\]\\-]", ["0", "2", "]", "-"], ["3", "\\"]),
      ("root ::= a b\na ::= \"x\" # comment\nb ::= \"y\" | ", ["xy", "x"], ["y", "xyy"]),
      ("root ::= [\u{3041}-\u{309F}]", ["\u{3053}"], ["a", "\u{30AB}"]),
    ]
    for (source, yes, no) in cases {
      let g = try Grammar(source)
      for t in yes { #expect(GrammarMatcher.matches(g, t), "\(source) should accept \(t.debugDescription)") }
      for t in no { #expect(!GrammarMatcher.matches(g, t), "\(source) should reject \(t.debugDescription)") }
    }
  }

  /// Rules as llama.cpp's parser writes them (its tests/test-grammar-parser.cpp expectations).
  @Test func rulesAsLlamaCppWritesThem() throws {
    let a = UInt32(UInt8(ascii: "a"))
    var g = try Grammar(#"root ::= "a"{0,5000}"#)
    #expect(g.ruleNames == ["root", "root_1"])
    #expect(g.rules == [[.ruleRef(1), .end], [.char(a), .ruleRef(1), .alt, .end]])
    g = try Grammar(#"root ::= "a"{3,5000}"#)
    #expect(
      g.rules == [[.char(a), .char(a), .char(a), .ruleRef(1), .end], [.char(a), .ruleRef(1), .alt, .end]])
    g = try Grammar(#"root  ::= "a" | [bdx-z] | [^1-3]"#)
    #expect(
      g.rules == [
        [
          .char(a), .alt, .char(98), .charAlt(100), .charAlt(120), .charRangeUpper(122), .alt, .charNot(49),
          .charRangeUpper(51), .end,
        ]
      ])
    g = try Grammar("root  ::= a+\na     ::= \"a\"")
    #expect(g.ruleNames == ["root", "a", "root_2"])
    #expect(
      g.rules == [
        [.ruleRef(1), .ruleRef(2), .end], [.char(a), .end], [.ruleRef(1), .ruleRef(2), .alt, .end],
      ])
    g = try Grammar(#"root ::= <[12]> !<[3]>"#)
    #expect(g.rules == [[.token(12), .tokenNot(3), .end]])
  }

  /// A token element matches a whole token by its id.
  @Test func tokenElements() throws {
    let g = try Grammar(#"root ::= "a" <[7]> !<[7]>"#)
    var m = GrammarMatcher(g)
    do {
      let taken = m.accept(bytes: [UInt8(ascii: "a")], token: 1)
      #expect(taken)
    }
    #expect(!m.accepts(bytes: [UInt8(ascii: "x")], token: 8))
    do {
      let taken = m.accept(bytes: [UInt8(ascii: "x")], token: 7)
      #expect(taken)
    }
    #expect(!m.accepts(bytes: [UInt8(ascii: "x")], token: 7))
    do {
      let taken = m.accept(bytes: [UInt8(ascii: "y")], token: 9)
      #expect(taken)
    }
    #expect(m.canEnd && m.isComplete)
  }

  @Test func badGrammarsGiveTypedErrorsWithPositions() {
    func error(_ source: String) -> GrammarError? {
      do {
        _ = try Grammar(source)
        return nil
      } catch {
        return error
      }
    }
    #expect(error("root ::= foo") == .undefinedRule("foo", line: 1, column: 10))
    #expect(error("root ::= a\na ::= b c\nb ::= \"x\"") == .undefinedRule("c", line: 2, column: 9))
    if case .syntax(_, let l, let c)? = error("root ::= \"abc") {
      #expect((l, c) == (1, 10))
    } else {
      Issue.record("no syntax error")
    }
    if case .syntax(_, let l, let c)? = error("root ::= [a-z\n") {
      #expect((l, c) == (1, 10))
    } else {
      Issue.record("no syntax error")
    }
    if case .syntax(let m, let l, let c)? = error("root ::= (\"a\"\n") {
      #expect(m.contains("')'"))
      #expect(l == 2 && c == 1)
    } else {
      Issue.record("no syntax error")
    }
    if case .syntax(let m, let l, let c)? = error("root ::= \"a\"{3,1}") {
      #expect(m.contains("below the minimum"))
      #expect((l, c) == (1, 13))
    } else {
      Issue.record("no syntax error")
    }
    if case .syntax(let m, let l, let c)? = error("root ::= \"\\q\"") {
      #expect(m.contains("escape"))
      #expect((l, c) == (1, 11))
    } else {
      Issue.record("no syntax error")
    }
    if case .syntax(_, let l, let c)? = error("root ::= *") {
      #expect((l, c) == (1, 10))
    } else {
      Issue.record("no syntax error")
    }
    if case .syntax(let m, let l, let c)? = error("root ::= a\na ::= \"x\" ]") {
      #expect(m.contains("newline"))
      #expect((l, c) == (2, 11))
    } else {
      Issue.record("no syntax error")
    }
    if case .syntax(_, let l, let c)? = error("root := \"a\"") {
      #expect((l, c) == (1, 6))
    } else {
      Issue.record("no syntax error")
    }
    // Columns count characters, not bytes.
    if case .syntax(_, let l, let c)? = error("root ::= \"\u{e9}\u{e9}\" \"\\x4\"") {
      #expect((l, c) == (1, 18))
    } else {
      Issue.record("no syntax error")
    }
    #expect(error("root ::= x\nx ::= x \"a\"") == .leftRecursion("x"))
    #expect(error("root ::= x\nx ::= y? x\ny ::= \"b\"") == .leftRecursion("x"))
    #expect(error("rot ::= \"a\"") == .missingRoot("root"))
    #expect(error("root ::= <hello>") == .unknownToken("<hello>", line: 1, column: 10))
    if case .syntax(let m, _, _)? = error("root ::= \"a\"{3000}") {
      #expect(m.contains("2000"))
    } else {
      Issue.record("no syntax error")
    }
    if case .syntax(_, _, _)? = error("root ::= []") {} else { Issue.record("no syntax error for []") }
    // Descriptions name the place.
    #expect(
      "\(GrammarError.undefinedRule("foo", line: 3, column: 7))"
        == "grammar error at line 3, column 7: undefined rule 'foo'")
  }
}
