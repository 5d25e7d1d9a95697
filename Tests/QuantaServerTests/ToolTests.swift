import Foundation
import QuantaLM
import Testing

@testable import QuantaServer

/// Chat requests with tools, tool calls and tool results rendered into prompts: through real
/// templates that read `tools` (the expected texts are Python Jinja2's renders of the same
/// conversation, arguments as objects, as `chatPrompt` passes them), and through a built-in
/// format that does not (the generic format's instructions and JSON).
@Suite struct ToolTests {
  static let templates = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent()
    .appendingPathComponent("ChatTemplates/templates")

  static let body = #"""
    {"messages": [
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "18 C"}],
     "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
       "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]}
    """#

  func prompt(template: ChatTemplate?, body: String = Self.body) async throws -> (String, ToolPlan?) {
    try await withServer(configure: { $0.chatTemplate = template }) { _, server in
      let data = Data(body.utf8)
      let chat = try decodeRequest(ChatCompletionRequest.self, from: data)
      let (text, plan) = try server.chatPrompt(chat, body: data)
      return (text, plan)
    }
  }

  @Test func qwen25RendersToolsCallsAndResults() async throws {
    let source = try String(
      contentsOf: Self.templates.appendingPathComponent("Qwen-Qwen2.5-7B-Instruct.jinja"), encoding: .utf8)
    let (text, plan) = try await prompt(template: try ChatTemplate(jinja: source))
    #expect(plan?.format == .hermes)
    #expect(plan?.grammar == nil)  // auto: no constraint
    let expected =
      "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n18 C\n</tool_response><|im_end|>\n<|im_start|>assistant\n"
    #expect(text == expected)
  }

  @Test func llama31RendersToolsCallsAndResults() async throws {
    let source = try String(
      contentsOf: Self.templates.appendingPathComponent("meta-llama-Llama-3.1-8B-Instruct.jinja"),
      encoding: .utf8)
    let (text, plan) = try await prompt(
      template: try ChatTemplate(jinja: source, bosToken: "<|begin_of_text|>"))
    #expect(plan?.format == .llama3)
    let expected =
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nGiven the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n\nRespond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.Do not use variables.\n\n{\n    \"type\": \"function\",\n    \"function\": {\n        \"name\": \"get_weather\",\n        \"parameters\": {\n            \"type\": \"object\",\n            \"properties\": {\n                \"city\": {\n                    \"type\": \"string\"\n                }\n            },\n            \"required\": [\n                \"city\"\n            ]\n        }\n    }\n}\n\nWeather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n\n\"18 C\"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    #expect(text == expected)
  }

  /// chatml (built in, reads no tools): the instructions in a system message, the call as the
  /// generic format's JSON, the result as a user message.
  @Test func builtInFormatGetsGenericInstructions() async throws {
    let (text, plan) = try await prompt(template: .chatml)
    #expect(plan?.format == .generic)
    let tools =
      #"[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]"#
    let expected =
      "<|im_start|>system\nTools: \(tools)\nTo call one, reply only with {\"tool_call\": {\"name\": NAME, \"arguments\": {…}}}; else reply with {\"response\": TEXT}.<|im_end|>\n"
      + "<|im_start|>user\nWeather in Paris?<|im_end|>\n"
      + "<|im_start|>assistant\n{\"tool_call\":{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}}<|im_end|>\n"
      + "<|im_start|>user\n{\"tool_response\":{\"tool_call_id\":\"call_1\",\"content\":\"18 C\"}}<|im_end|>\n"
      + "<|im_start|>assistant\n"
    #expect(text == expected)
  }

  /// `required` and a named function give a grammar; `none` drops the tools.
  @Test func toolChoiceGrammar() async throws {
    let base = String(Self.body.dropLast())  // before the closing brace
    let required = try await prompt(template: .chatml, body: base + #", "tool_choice": "required"}"#)
    let grammar = try #require(required.1?.grammar)
    let g = try Grammar(grammar)
    #expect(
      GrammarMatcher.matches(g, #"{"tool_call": {"name": "get_weather", "arguments": {"city": "Oslo"}}}"#))
    #expect(!GrammarMatcher.matches(g, "It is sunny."))
    let none = try await prompt(template: .chatml, body: base + #", "tool_choice": "none"}"#)
    #expect(none.1 == nil)
    #expect(!none.0.contains("Tools:"))
  }
}
