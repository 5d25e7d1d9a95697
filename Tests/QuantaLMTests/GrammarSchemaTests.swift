import Foundation
import Testing

@testable import QuantaLM

/// JSON Schema → GBNF against llama.cpp's converter: `Tests/Grammars/json-schema/*.gbnf` are
/// written by `Tests/Grammars/make_expected.py` with the Python converter of the llama-cpp-python
/// 0.3.36 sdist (two fixes from llama.cpp's C++ converter patched in, as the script says).
@Suite struct GrammarSchemaTests {
  static let folder = GrammarTests.folder.appendingPathComponent("json-schema")

  static func read(_ name: String) throws -> String {
    try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
  }

  @Test func sameGrammarAsLlamaCppsConverter() throws {
    let schemas = try FileManager.default.contentsOfDirectory(atPath: Self.folder.path).filter {
      $0.hasSuffix(".json")
    }
    .sorted()
    #expect(schemas.count == 7)
    for file in schemas {
      let expected = try Self.read(String(file.dropLast(5)) + ".gbnf")
      let ours = try JSONSchemaGrammar.gbnf(schema: try Self.read(file))
      #expect(ours + "\n" == expected, "\(file)")
      _ = try Grammar(ours)
    }
    #expect(JSONSchemaGrammar.anyObject + "\n" == (try Self.read("empty.gbnf")))
  }

  /// Instances of `nested.json`, valid and not, written by hand.
  @Test func nestedSchemaGrammarAcceptsItsInstancesOnly() throws {
    let g = try Grammar(try JSONSchemaGrammar.gbnf(schema: try Self.read("nested.json")))
    let valid = [
      #"{"kind": "cat", "weight": 4.5, "owner": {"name": "Ann", "phones": [{"type": "home", "digits": "123"}]}, "active": true, "notes": null, "scores": [1, -2]}"#,
      #"{"kind":"bird","weight":-0.25e2,"owner":{"name":"","phones":[{"type":"work","digits":"12\"456"},{"type":"home","digits":"999"}]},"active":false,"notes":"ok","scores":[0,1,2]}"#,
    ]
    let invalid = [
      // a required property missing (active)
      #"{"kind": "cat", "weight": 4.5, "owner": {"name": "Ann", "phones": [{"type": "home", "digits": "123"}]}, "notes": null, "scores": [1, 2]}"#,
      // not in the enum
      #"{"kind": "cow", "weight": 4.5, "owner": {"name": "Ann", "phones": [{"type": "home", "digits": "123"}]}, "active": true, "notes": null, "scores": [1, 2]}"#,
      // three phones (maxItems 2)
      #"{"kind": "cat", "weight": 1, "owner": {"name": "A", "phones": [{"type": "home", "digits": "123"}, {"type": "home", "digits": "123"}, {"type": "home", "digits": "123"}]}, "active": true, "notes": null, "scores": [1, 2]}"#,
      // digits too short (minLength 3)
      #"{"kind": "cat", "weight": 1, "owner": {"name": "A", "phones": [{"type": "home", "digits": "12"}]}, "active": true, "notes": null, "scores": [1, 2]}"#,
      // an additional property
      #"{"kind": "cat", "weight": 1, "owner": {"name": "A", "phones": [{"type": "home", "digits": "123"}]}, "active": true, "notes": null, "scores": [1, 2], "x": 1}"#,
      // one score (minItems 2), a fractional integer
      #"{"kind": "cat", "weight": 1, "owner": {"name": "A", "phones": [{"type": "home", "digits": "123"}]}, "active": true, "notes": null, "scores": [1]}"#,
      #"{"kind": "cat", "weight": 1, "owner": {"name": "A", "phones": [{"type": "home", "digits": "123"}]}, "active": true, "notes": null, "scores": [1, 2.5]}"#,
    ]
    for v in valid { #expect(GrammarMatcher.matches(g, v), "\(v)") }
    for v in invalid { #expect(!GrammarMatcher.matches(g, v), "\(v)") }
  }

  /// Behaviour the Python converter lacks: a list of types keeps the other keywords.
  @Test func typeListsKeepTheirConstraints() throws {
    let g = try Grammar(try JSONSchemaGrammar.gbnf(schema: #"{"type": ["string", "null"], "maxLength": 2}"#))
    for v in [#""ab""#, "null", #""""#] { #expect(GrammarMatcher.matches(g, v), "\(v)") }
    for v in [#""abc""#, "1"] { #expect(!GrammarMatcher.matches(g, v), "\(v)") }
  }

  @Test func unsupportedSchemasGiveTypedErrors() {
    func error(_ schema: String) -> JSONSchemaError? {
      do {
        _ = try JSONSchemaGrammar.gbnf(schema: schema)
        return nil
      } catch {
        return error
      }
    }
    #expect(error(#"{"type": "string", "pattern": "^a$"}"#) == .unsupportedKeyword("pattern", path: ""))
    #expect(
      error(#"{"type": "object", "properties": {"age": {"type": "integer", "minimum": 0}}}"#)
        == .unsupportedKeyword("minimum", path: "/properties/age"))
    #expect(
      error(#"{"type": "array", "items": {"type": "number", "multipleOf": 2}}"#)
        == .unsupportedKeyword("multipleOf", path: "/items"))
    #expect(error(#"{"type": "strin"}"#) == .unsupportedType("strin", path: ""))
    #expect(
      error(#"{"$ref": "https://example.com/s.json"}"#)
        == .badReference("https://example.com/s.json", path: ""))
    #expect(error(##"{"$ref": "#/$defs/missing"}"##) == .badReference("#/$defs/missing", path: ""))
    if case .invalidJSON(let e)? = error(#"{"type": "object",}"#) {
      #expect(e.message.contains("byte 18"))
    } else {
      Issue.record("no JSON error")
    }
    if case .malformed? = error(#"{"type": "array", "items": {}, "minItems": 3, "maxItems": 1}"#) {
    } else {
      Issue.record("no malformed error")
    }
    #expect(
      "\(JSONSchemaError.unsupportedKeyword("pattern", path: "/properties/x"))"
        == "JSON schema: keyword 'pattern' at /properties/x is not supported")
  }
}
