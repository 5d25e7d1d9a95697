import Foundation
import Testing

@testable import QuantaLM

/// Quanta's Jinja interpreter against Python's Jinja2 (the reference engine, set up as Hugging
/// Face's apply_chat_template): every case in `Tests/ChatTemplates/expected.json` (written by
/// `scripts/chat_template_cases.py`) is a real model's chat template rendered on a conversation;
/// Quanta's render must be the same bytes, or the same raised message, or an error where Jinja2
/// failed.
@Suite struct JinjaTemplateTests {
  static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("ChatTemplates")

  struct Case: Sendable, CustomStringConvertible {
    var template: String
    var conversation: String
    var context: JinjaObject
    var output: String?
    var raised: String?
    var description: String {
      let agp = context["add_generation_prompt"] == .bool(true) ? "+prompt" : ""
      return "\(template) \(conversation)\(agp)"
    }
  }

  static let cases: [Case] = {
    guard let text = try? String(contentsOf: folder.appendingPathComponent("expected.json"), encoding: .utf8),
      case .object(let root)? = try? JinjaValue.parseJSON(text), case .array(let items)? = root["cases"],
      case .object(let conversations)? = root["conversations"]
    else { return [] }
    return items.compactMap { item -> Case? in
      guard case .object(let o) = item, case .string(let t)? = o["template"],
        case .string(let c)? = o["conversation"],
        case .object(let conversation)? = conversations[c], let agp = o["add_generation_prompt"]
      else { return nil }
      let context = JinjaObject([
        ("messages", conversation["messages"] ?? .none), ("tools", conversation["tools"] ?? .none),
        ("add_generation_prompt", agp), ("bos_token", root["bos_token"] ?? .none),
        ("eos_token", root["eos_token"] ?? .none),
      ])
      var out: String? = nil
      if case .string(let s)? = o["output"] { out = s }
      var raised: String? = nil
      if o["error"] == .string("raised"), case .string(let m)? = o["message"] { raised = m }
      return Case(template: t, conversation: c, context: context, output: out, raised: raised)
    }
  }()

  /// 2026-01-02T03:04:05 UTC, what the generator's strftime_now formats.
  static let now = Date(timeIntervalSince1970: 1_767_323_045)

  @Test func casesArePresent() {
    #expect(Self.cases.count > 50)
  }

  @Test(arguments: cases)
  func rendersAsJinja2(_ c: Case) throws {
    let source = try String(
      contentsOf: Self.folder.appendingPathComponent("templates/\(c.template).jinja"), encoding: .utf8)
    let template = try JinjaTemplate(source)
    let utc = TimeZone(identifier: "UTC")!
    if let expected = c.output {
      let got = try template.render(c.context, now: Self.now, timeZone: utc)
      #expect(got == expected)
    } else {
      do {
        _ = try template.render(c.context, now: Self.now, timeZone: utc)
        Issue.record("Jinja2 failed on \(c) but Quanta rendered it")
      } catch let e as JinjaError {
        if let raised = c.raised {
          #expect(e.kind == .raised)
          #expect(e.message == raised)
        }
      }
    }
  }
}

/// RELIABILITY.md A16: the template is data. Nothing but dict keys, loop variables, namespace
/// attributes and the listed filters/tests/methods is reachable; loops, recursion, nesting and
/// output are bounded; every failure is a typed `JinjaError` with a location, never a crash.
@Suite struct JinjaRestrictionTests {
  func render(_ source: String, _ context: JinjaObject = .init(), limits: JinjaLimits = .init()) throws
    -> String
  {
    try JinjaTemplate(source).render(context, limits: limits)
  }

  func kind(_ source: String, _ context: JinjaObject = .init(), limits: JinjaLimits = .init()) -> JinjaError
    .Kind?
  {
    do {
      _ = try render(source, context, limits: limits)
      return nil
    } catch let e as JinjaError {
      return e.kind
    } catch {
      return nil
    }
  }

  @Test func noAttributeWalking() throws {
    let context = JinjaObject([("messages", .array([])), ("s", .string("x"))])
    // Python attributes are not there: an unknown attribute is Undefined (prints nothing, as in
    // Jinja2's sandbox), and going further through it is an error.
    #expect(try render("{{ messages.__class__ }}{{ s.__class__ }}", context) == "")
    #expect(kind("{{ s.__class__.__mro__ }}", context) == .type)
    #expect(kind("{{ ''.__class__.__mro__[1].__subclasses__() }}") == .type)
    #expect(kind("{{ s.__len__() }}", context) == .unsupported)
    #expect(kind("{{ messages.append(1) }}", context) == .unsupported)
    #expect(kind("{{ cycler }}{{ lipsum() }}") == .type)
  }

  @Test func loopsRecursionAndOutputAreBounded() throws {
    // The default bounds: a range past the iteration bound is refused before it is built.
    #expect(kind("{% for i in range(2000000) %}{% endfor %}") == .limit)
    #expect(kind("{{ 'x' * 100000000000 }}") == .limit)
    #expect(kind("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}") == .limit)
    let deep = String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000)
    #expect(kind("{{ \(deep) }}") == .limit)
    let blocks =
      String(repeating: "{% if true %}", count: 5000) + String(repeating: "{% endif %}", count: 5000)
    #expect(kind(blocks) == .limit)
    // Smaller bounds, so the loops reach them quickly: nested loops count every iteration, and
    // every byte built (output, concatenation, repetition) counts against the output bound.
    var small = JinjaLimits()
    small.maxIterations = 10_000
    small.maxOutputBytes = 100_000
    let nested =
      "{% for a in range(100) %}{% for b in range(100) %}{% for c in range(3) %}{% endfor %}{% endfor %}{% endfor %}"
    #expect(kind(nested, limits: small) == .limit)
    #expect(kind("{% for i in range(5000) %}{{ 'x' * 100 }}{% endfor %}", limits: small) == .limit)
    #expect(
      kind(
        "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
        limits: small)
        == .limit)
    #expect(kind("{% for i in range(50) %}{{ i }}{% endfor %}", limits: small) == nil)
    // Values nested by a loop, and sizes a filter would build before writing anything.
    #expect(
      kind("{% set ns = namespace(x=1) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}")
        == .limit)
    #expect(kind("{{ 'ab' | indent(100000000000) }}") == .limit)
    #expect(kind("{{ [1] | tojson(indent=100000000000) }}") == .limit)
    #expect(kind("{% set s = 'x' * 100000 %}{{ s.replace('', s) }}") == .limit)
  }

  /// Integer edge cases are typed errors or Python's values, never an overflow trap.
  @Test func integerEdgesDoNotTrap() throws {
    let min = "(-9223372036854775807 - 1)"
    #expect(kind("{{ -\(min) }}") == .limit)
    #expect(kind("{{ \(min) | abs }}") == .limit)
    #expect(kind("{{ \(min) // -1 }}") == .limit)
    // Expected values from Jinja2 3.1.6.
    #expect(
      try render("{{ \(min) % -1 }}|{{ \(min) is odd }}|{{ \(min) is divisibleby(-1) }}") == "0|False|True")
    #expect(try render("{{ 2.9 | int }}|{{ '2.9' | int }}|{{ -2.9 | int }}") == "2|2|-2")
    // Python's int is unbounded; here a float past Int's range gives the filter's default.
    #expect(try render("{{ 1e300 | int }}|{{ '1e300' | int(7) }}") == "0|7")
    #expect(kind("{% for i in range(\(min), 9223372036854775807) %}{% endfor %}") == .limit)
    #expect(kind("{{ 9223372036854775807 + 1 }}") == .limit)
  }

  @Test func errorsCarryTheTemplateLocation() throws {
    do {
      _ = try render("line one\n  {% if %}")
      Issue.record("expected a syntax error")
    } catch let e as JinjaError {
      #expect(e.kind == .syntax)
      #expect(e.line == 2)
    }
    do {
      _ = try render("{{ x | frobnicate }}")
      Issue.record("expected an unknown filter")
    } catch let e as JinjaError {
      #expect(e.kind == .unsupported)
      #expect((e.line, e.column) == (1, 6))
      #expect(e.description.contains("frobnicate"))
    }
    #expect(kind("{% include 'other.jinja' %}") == .unsupported)
    #expect(kind("{{ raise_exception('no system role') }}") == .raised)
    #expect(kind("{{ 1 + 'a' }}") == .type)
    #expect(kind("{{ 1 // 0 }}") == .type)
    #expect(kind("{% for x in 3 %}{% endfor %}") == .type)
    #expect(kind("{{ 'unterminated }}") == .syntax)
  }

  /// Every cut of a real template parses or fails with a typed error, and renders or fails the
  /// same way (no trap on half a tag, an unclosed string or block).
  @Test func everyPrefixOfARealTemplateIsHandled() throws {
    let url = JinjaTemplateTests.folder.appendingPathComponent("templates/Qwen-Qwen3-0.6B.jinja")
    let source = Array(try String(contentsOf: url, encoding: .utf8).utf8)
    let messages = try JinjaValue.parseJSON(#"[{"role":"user","content":"hi"}]"#)
    var rendered = 0
    for cut in 0...source.count {
      guard let text = String(validating: source[..<cut], as: UTF8.self) else { continue }
      do {
        _ = try JinjaTemplate(text).render(JinjaObject([("messages", messages)]))
        rendered += 1
      } catch is JinjaError {}
    }
    #expect(rendered > 0)
  }

  /// Semantics outside the template corpus, with Jinja2 3.1.6's output.
  @Test func macroDefaultsAndLoopCycle() throws {
    #expect(
      try render(#"{% macro f(a, b=a ~ "!") %}{{ a }}{{ b }}{% endmacro %}{{ f(1) }}|{{ f(1, 2) }}"#)
        == "11!|12")
    #expect(try render(#"{% for x in [1,2,3] %}{{ loop.cycle("a","b") }}{% endfor %}"#) == "aba")
  }

  @Test func jsonKeepsKeyOrder() throws {
    let v = try JinjaValue.parseJSON(#"{"z": 1, "a": [true, null, 2.5, "\u00e9\n"], "m": {}}"#)
    #expect(
      try render("{{ v | tojson }}", JinjaObject([("v", v)]))
        == #"{"z": 1, "a": [true, null, 2.5, "é\n"], "m": {}}"#)
    #expect(throws: JinjaError.self) { try JinjaValue.parseJSON("{\"a\": }") }
  }
}
