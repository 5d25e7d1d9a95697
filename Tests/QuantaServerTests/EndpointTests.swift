import Foundation
import Hummingbird
import HummingbirdTesting
import QuantaLM
import QuantaServer
import Testing

/// Every endpoint through the router, in process, against the tiny synthetic model.
@Suite struct EndpointTests {
  @Test func health() async throws {
    try await withServer { client, _ in
      let r = try await client.get("/health")
      #expect(r.status == .ok)
      let o = try r.object()
      #expect(o["status"] as? String == "ok")
      #expect(o["slots_idle"] as? Int == 2)
    }
  }

  @Test func models() async throws {
    try await withServer { client, server in
      let r = try await client.get("/v1/models")
      #expect(r.status == .ok)
      let o = try r.object()
      #expect(o["object"] as? String == "list")
      let data = try #require(o["data"] as? [[String: Any]])
      #expect(data.count == 1)
      #expect(data[0]["id"] as? String == "test-model")
      let meta = try #require(data[0]["meta"] as? [String: Any])
      #expect(meta["n_ctx"] as? Int == server.model.contextLength)
      #expect(meta["n_vocab"] as? Int == 1024)
    }
  }

  /// A greedy chat completion is the library's greedy generation over the rendered conversation,
  /// token for token, with its usage counts.
  @Test func chatCompletionMatchesLibrary() async throws {
    try await withServer { client, server in
      let r = try await client.post(
        "/v1/chat/completions",
        #"{"model":"x","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello there"}],"temperature":0,"max_tokens":12}"#
      )
      #expect(r.status == .ok, "\(r.text)")
      let o = try r.object()
      #expect(o["object"] as? String == "chat.completion")
      #expect((o["id"] as? String)?.hasPrefix("chatcmpl-") == true)
      #expect(o["model"] as? String == "test-model")
      let choice = try #require((o["choices"] as? [[String: Any]])?.first)
      let message = try #require(choice["message"] as? [String: Any])
      #expect(message["role"] as? String == "assistant")
      let content = try #require(message["content"] as? String)

      let model = server.model
      let text = try server.template.apply([.init(.system, "Be brief."), .init(.user, "Hello there")])
      let prompt = model.chatPromptTokens(text, template: server.template, addSpecial: true)
      let reference = try await referenceGreedy(
        model, prompt: prompt, maxTokens: 12, stops: [server.template.endOfTurn])
      #expect(content == reference.text)
      let usage = try #require(o["usage"] as? [String: Any])
      #expect(usage["prompt_tokens"] as? Int == prompt.count)
      #expect(usage["completion_tokens"] as? Int == reference.summary.generatedTokens)
      #expect(usage["total_tokens"] as? Int == prompt.count + reference.summary.generatedTokens)
      let expectedReason = reference.summary.stopReason == .maxTokens ? "length" : "stop"
      #expect(choice["finish_reason"] as? String == expectedReason)
    }
  }

  /// A Jinja template renders the prompt (usage counts its tokens); one that raises is a 400.
  @Test func jinjaTemplate() async throws {
    let source =
      "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('no system role') }}{% endif %}"
      + "[{{ m.role }}]{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}"
    let template = try ChatTemplate(jinja: source)
    try await withServer(configure: { $0.chatTemplate = template }) { client, server in
      let r = try await client.post(
        "/v1/chat/completions", #"{"messages":[{"role":"user","content":"Hi"}],"max_tokens":2}"#)
      #expect(r.status == .ok, "\(r.text)")
      let expected = server.model.chatPromptTokens(
        "[user]Hi\n[assistant]", template: template, addSpecial: true)
      #expect((try r.object()["usage"] as? [String: Any])?["prompt_tokens"] as? Int == expected.count)
      let refused = try await client.post(
        "/v1/chat/completions",
        #"{"messages":[{"role":"system","content":"x"},{"role":"user","content":"Hi"}]}"#)
      let message = try expectError(refused, status: 400, type: "invalid_request_error")
      #expect(message.contains("no system role"))
    }
  }

  /// Streaming and non-streaming give the same text; the stream is chunks, then `[DONE]`.
  @Test func completionStreamMatchesNonStream() async throws {
    try await withServer { client, _ in
      let body = #"{"prompt":"Once upon a time","temperature":0,"max_tokens":10"#
      let plain = try await client.post("/v1/completions", body + "}")
      #expect(plain.status == .ok, "\(plain.text)")
      let o = try plain.object()
      #expect(o["object"] as? String == "text_completion")
      let choice = try #require((o["choices"] as? [[String: Any]])?.first)
      let text = try #require(choice["text"] as? String)

      let streamed = try await client.post(
        "/v1/completions", body + #","stream":true,"stream_options":{"include_usage":true}}"#)
      #expect(streamed.status == .ok)
      #expect(streamed.headers[.contentType] == "text/event-stream")
      let events = streamed.events
      #expect(events.last == "[DONE]")
      var joined = ""
      var finish: String?
      var usage: [String: Any]?
      for e in events.dropLast() {
        let chunk = try #require(try JSONSerialization.jsonObject(with: Data(e.utf8)) as? [String: Any])
        #expect(chunk["object"] as? String == "text_completion")
        if let u = chunk["usage"] as? [String: Any] { usage = u }
        for c in chunk["choices"] as? [[String: Any]] ?? [] {
          joined += c["text"] as? String ?? ""
          if let f = c["finish_reason"] as? String { finish = f }
        }
      }
      #expect(joined == text)
      #expect(finish == choice["finish_reason"] as? String)
      let plainUsage = try #require(o["usage"] as? [String: Any])
      #expect(usage?["completion_tokens"] as? Int == plainUsage["completion_tokens"] as? Int)
      #expect(usage?["prompt_tokens"] as? Int == plainUsage["prompt_tokens"] as? Int)
    }
  }

  @Test func chatStreamStartsWithRoleAndEndsWithDone() async throws {
    try await withServer { client, _ in
      let r = try await client.post(
        "/v1/chat/completions",
        #"{"messages":[{"role":"user","content":"Hi"}],"max_tokens":5,"stream":true,"seed":1}"#)
      #expect(r.status == .ok)
      let events = r.events
      #expect(events.last == "[DONE]")
      let first = try #require(try JSONSerialization.jsonObject(with: Data(events[0].utf8)) as? [String: Any])
      #expect(first["object"] as? String == "chat.completion.chunk")
      let delta = try #require((first["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])
      #expect(delta["role"] as? String == "assistant")
      let last = try #require(
        try JSONSerialization.jsonObject(with: Data(events[events.count - 2].utf8)) as? [String: Any])
      let reason = (last["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String
      #expect(reason == "stop" || reason == "length")
    }
  }

  /// `max_tokens` bounds the reply and reports `length`; a stop string cuts the text before it.
  @Test func maxTokensAndStop() async throws {
    try await withServer { client, _ in
      // ignore the end-of-generation ids is not an API option: find a prompt whose greedy reply
      // runs the full length, then cut it with a stop string from its middle.
      let long = try await client.post(
        "/v1/completions", #"{"prompt":"The story","temperature":0,"max_tokens":24}"#)
      let o = try long.object()
      let choice = try #require((o["choices"] as? [[String: Any]])?.first)
      let text = try #require(choice["text"] as? String)
      let usage = try #require(o["usage"] as? [String: Any])
      let n = try #require(usage["completion_tokens"] as? Int)
      #expect(n <= 24)
      if choice["finish_reason"] as? String == "length" { #expect(n == 24) }
      // ignore_eos (llama-server's): exactly max_tokens, ending with `length`.
      let full = try await client.post(
        "/v1/completions", #"{"prompt":"The story","temperature":0,"max_tokens":24,"ignore_eos":true}"#)
      let fo = try full.object()
      #expect((fo["usage"] as? [String: Any])?["completion_tokens"] as? Int == 24)
      #expect((fo["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String == "length")
      // A stop string: the text up to its first occurrence, at least two characters in.
      let chars = Array(text)
      try #require(chars.count >= 6, "the greedy reply is too short to cut: \(text.debugDescription)")
      let stop = String(chars[3..<5])
      let cut = try #require(text.range(of: stop))
      let escaped = String(data: try JSONSerialization.data(withJSONObject: [stop]), encoding: .utf8)!
      let stopped = try await client.post(
        "/v1/completions", #"{"prompt":"The story","temperature":0,"max_tokens":24,"stop":"# + escaped + "}")
      let so = try stopped.object()
      let sc = try #require((so["choices"] as? [[String: Any]])?.first)
      #expect(sc["text"] as? String == String(text[..<cut.lowerBound]))
      #expect(sc["finish_reason"] as? String == "stop")
    }
  }

  /// `logit_bias` −100 bans a token: the greedy first token, banned, is not the reply.
  @Test func logitBiasBansAToken() async throws {
    try await withServer { client, server in
      let model = server.model
      var sampling = SamplingOptions.greedy
      for t in model.endOfGenerationTokens { sampling.logitBias[t] = -.infinity }
      var o = GenerationOptions(maxTokens: 1, sampling: sampling)
      o.contextShift = false
      let (text, summary) = try await model.complete(prompt: "Hello", options: o)
      let id = try #require(summary.tokenIDs.first)
      let body = #"{"prompt":"Hello","temperature":0,"max_tokens":1,"ignore_eos":true"#
      let plain = try await client.post("/v1/completions", body + "}")
      #expect((try plain.object()["choices"] as? [[String: Any]])?.first?["text"] as? String == text)
      let banned = try await client.post("/v1/completions", body + #","logit_bias":{"\#(id)":-100}}"#)
      #expect(banned.status == .ok)
      let other = try #require(
        (try banned.object()["choices"] as? [[String: Any]])?.first?["text"] as? String)
      #expect(other != text)
    }
  }

  @Test func tokenizeAndDetokenize() async throws {
    try await withServer { client, server in
      let r = try await client.post("/tokenize", #"{"content":"hello world"}"#)
      #expect(r.status == .ok)
      let ids = try #require(try r.object()["tokens"] as? [Int])
      let expected = server.model.tokenizer.encode("hello world", addSpecial: false, parseSpecial: true)
      #expect(ids == expected.map(Int.init))
      let withBOS = try await client.post("/tokenize", #"{"content":"hello world","add_special":true}"#)
      let idsBOS = try #require(try withBOS.object()["tokens"] as? [Int])
      #expect(idsBOS.count == ids.count + 1)

      let pieces = try await client.post("/tokenize", #"{"content":"hello world","with_pieces":true}"#)
      let list = try #require(try pieces.object()["tokens"] as? [[String: Any]])
      #expect(list.map { $0["id"] as? Int } == ids.map { $0 })
      #expect(list.compactMap { $0["piece"] as? String }.joined().contains("hello"))

      let back = try await client.post("/detokenize", #"{"tokens":\#(ids)}"#)
      #expect(back.status == .ok)
      #expect(
        try back.object()["content"] as? String == server.model.tokenizer.decode(expected, special: true))

      try expectError(
        try await client.post("/detokenize", #"{"tokens":[5000]}"#), status: 400,
        type: "invalid_request_error")
      try expectError(
        try await client.post("/detokenize", #"{"tokens":[-1]}"#), status: 400, type: "invalid_request_error")
    }
  }

  @Test func metricsCountRequestsAndTokens() async throws {
    try await withServer { client, _ in
      _ = try await client.post("/v1/completions", #"{"prompt":"abc","max_tokens":3,"temperature":0}"#)
      let r = try await client.get("/metrics")
      #expect(r.status == .ok)
      let text = r.text
      func value(_ name: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
          return Double(line.dropFirst(name.count + 1))
        }
        return nil
      }
      #expect(value("quanta_requests_total") == 1)
      #expect((value("quanta_prompt_tokens_total") ?? 0) > 0)
      #expect((value("quanta_tokens_predicted_total") ?? 0) >= 1)
      #expect(value("quanta_slots_total") == 2)
      #expect(value("quanta_queue_depth") == 0)
      #expect(value("quanta_slots_busy") != nil)
      #expect((value("quanta_prompt_tokens_per_second") ?? 0) > 0)
      #expect(text.contains(#"quanta_http_responses_total{path="/v1/completions",status="200"} 1"#))
    }
  }
}
