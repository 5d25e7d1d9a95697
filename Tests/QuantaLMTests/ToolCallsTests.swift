import Foundation
import Testing

@testable import QuantaLM

/// Tool calls read out of fixed replies in each format llama.cpp's chat parser handles, the format
/// of real templates, and the grammar of a `required` call accepting exactly the format's calls.
@Suite struct ToolCallsTests {
  static let names: Set<String> = ["get_weather", "get_time"]

  @Test func hermesBlocks() {
    let text = """
      Let me check.
      <tool_call>
      {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}
      </tool_call>
      <tool_call>{"name":"get_time","arguments":{"tz":"CET"}}</tool_call>
      """
    let r = ToolCalls.parse(text, format: .hermes, names: Self.names)
    #expect(r.content == "Let me check.")
    #expect(
      r.calls == [
        ToolCall(name: "get_weather", arguments: #"{"city":"Paris","days":2}"#),
        ToolCall(name: "get_time", arguments: #"{"tz":"CET"}"#),
      ])
    // A reply cut after the object (no closing tag) still gives its call.
    let cut = ToolCalls.parse(
      #"<tool_call>{"name": "get_time", "arguments": {}}"#, format: .hermes, names: Self.names)
    #expect(cut.calls == [ToolCall(name: "get_time", arguments: "{}")] && cut.content.isEmpty)
  }

  @Test func llama3JSON() {
    let r = ToolCalls.parse(
      #"<|python_tag|>{"name": "get_weather", "parameters": {"city": "Oslo", "unit": "c"}}"#, format: .llama3,
      names: Self.names)
    #expect(r.calls == [ToolCall(name: "get_weather", arguments: #"{"city":"Oslo","unit":"c"}"#)])
    #expect(r.content.isEmpty)
    // Without the tag, and with arguments given as JSON text.
    let s = ToolCalls.parse(
      #" {"name": "get_time", "arguments": "{\"tz\": \"UTC\"}"} "#, format: .llama3, names: Self.names)
    #expect(s.calls == [ToolCall(name: "get_time", arguments: #"{"tz":"UTC"}"#)])
  }

  @Test func mistralList() {
    let r = ToolCalls.parse(
      #"[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Rome"}, "id": "a1b2c3d4e"}, {"name": "get_time", "arguments": {}, "id": "f5g6h7i8j"}]"#,
      format: .mistral, names: Self.names)
    #expect(
      r.calls == [
        ToolCall(name: "get_weather", arguments: #"{"city":"Rome"}"#, id: "a1b2c3d4e"),
        ToolCall(name: "get_time", arguments: "{}", id: "f5g6h7i8j"),
      ])
  }

  @Test func genericObjects() {
    let one = ToolCalls.parse(
      #"{"tool_call": {"name": "get_weather", "arguments": {"city": "Lima"}}}"#, format: .generic,
      names: Self.names)
    #expect(one.calls == [ToolCall(name: "get_weather", arguments: #"{"city":"Lima"}"#)])
    let many = ToolCalls.parse(
      #"{"tool_calls": [{"name": "get_time", "arguments": {"tz": "PST"}}, {"name": "get_weather", "arguments": {"city": "Kyiv"}}]}"#,
      format: .generic, names: Self.names)
    #expect(many.calls.map(\.name) == ["get_time", "get_weather"])
    let answer = ToolCalls.parse(#"{"response": "It is sunny."}"#, format: .generic, names: Self.names)
    #expect(answer.calls.isEmpty && answer.content == "It is sunny.")
    // Non-ASCII and escapes survive the compact rewrite.
    let text = ToolCalls.parse(
      #"{"tool_call": {"name": "get_weather", "arguments": {"city": "Zürich \"Z\"", "n": 1.50}}}"#,
      format: .generic, names: Self.names)
    #expect(text.calls.first?.arguments == #"{"city":"Zürich \"Z\"","n":1.5}"#)
  }

  /// Replies that are not calls stay text: plain prose, a name not offered, arguments that are not
  /// an object, broken JSON inside the tags.
  @Test func notCalls() {
    for text in [
      "Just text, no call.",
      #"{"name": "rm_rf", "arguments": {}}"#,
      #"{"name": "get_time", "arguments": [1, 2]}"#,
      #"<tool_call>{"name": "get_time", "arguments": {</tool_call>"#,
      #"{"city": "Paris"}"#,
    ] {
      let r = ToolCalls.parse(text, format: .hermes, names: Self.names)
      #expect(r.calls.isEmpty, "\(text)")
      #expect(r.content == text)
    }
    // Without a names filter, any name is a call.
    #expect(
      ToolCalls.parse(#"{"name": "rm_rf", "arguments": {}}"#, format: .llama3).calls.map(\.name) == ["rm_rf"])
  }

  /// The format of real chat templates (Tests/ChatTemplates/templates).
  @Test func formatsOfRealTemplates() throws {
    let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("ChatTemplates/templates")
    let expected: [(String, ToolCallFormat)] = [
      ("Qwen-Qwen2.5-7B-Instruct", .hermes),
      ("NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use", .hermes),
      ("meta-llama-Llama-3.1-8B-Instruct", .llama3),
      ("meta-llama-Llama-3.2-3B-Instruct", .llama3),
      ("meta-llama-Llama-3.3-70B-Instruct", .llama3),
      ("mistralai-Mistral-Nemo-Instruct-2407", .mistral),
      ("google-gemma-3-it", .generic),
    ]
    for (name, format) in expected {
      let source = try String(contentsOf: folder.appendingPathComponent(name + ".jinja"), encoding: .utf8)
      #expect(ToolCallFormat.detect(template: source) == format, "\(name)")
    }
  }

  /// The `required` grammar accepts a call in the format's own syntax (and `parse` reads it back),
  /// and refuses prose, another tool's name, or arguments missing a required field.
  @Test func requiredGrammar() throws {
    let weather = try OrderedJSON(
      parsing:
        #"{"type": "object", "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}}, "required": ["city", "unit"]}"#
    )
    let tools = [
      ToolCalls.Tool(name: "get_weather", parameters: weather),
      ToolCalls.Tool(name: "get_time", parameters: .object([("type", .string("object"))])),
    ]
    let good: [(ToolCallFormat, String)] = [
      (
        .hermes,
        "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\", \"unit\": \"c\"}}\n</tool_call>"
      ),
      (.llama3, #"{"name": "get_weather", "parameters": {"city": "Oslo", "unit": "c"}}"#),
      (.mistral, #"[{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "c"}}]"#),
      (.generic, #"{"tool_call": {"name": "get_weather", "arguments": {"city": "Oslo", "unit": "c"}}}"#),
    ]
    for (format, text) in good {
      let grammar = try Grammar(try ToolCalls.grammar(tools: tools, format: format))
      #expect(GrammarMatcher.matches(grammar, text), "\(format)")
      #expect(
        ToolCalls.parse(text, format: format, names: Self.names).calls == [
          ToolCall(name: "get_weather", arguments: #"{"city":"Oslo","unit":"c"}"#)
        ], "\(format)")
      #expect(!GrammarMatcher.matches(grammar, "Sure, calling it."), "\(format)")
      #expect(
        !GrammarMatcher.matches(grammar, text.replacingOccurrences(of: "get_weather", with: "get_wether")))
      #expect(!GrammarMatcher.matches(grammar, text.replacingOccurrences(of: #", "unit": "c""#, with: "")))
    }
    // One tool only (a named tool_choice): the other's call is refused.
    let named = try Grammar(try ToolCalls.grammar(tools: [tools[1]], format: .generic))
    #expect(GrammarMatcher.matches(named, #"{"tool_call": {"name": "get_time", "arguments": {}}}"#))
    #expect(!GrammarMatcher.matches(named, good[3].1))
  }
}
