import Foundation
import Hummingbird
import HummingbirdTesting
import QuantaLM
import Testing

@testable import QuantaServer

/// Each error case: OpenAI's shape, the right status, and the server serving on afterwards.
@Suite struct ErrorTests {
  static let chat = "/v1/chat/completions"

  @Test func malformedJSON() async throws {
    try await withServer { client, _ in
      try expectError(
        try await client.post(Self.chat, #"{"messages": [}"#), status: 400, type: "invalid_request_error")
      try expectError(try await client.post(Self.chat, ""), status: 400, type: "invalid_request_error")
      try expectError(try await client.post(Self.chat, "[1,2]"), status: 400, type: "invalid_request_error")
      try expectError(
        try await client.post("/v1/completions", "\u{1}binary"), status: 400, type: "invalid_request_error")
      // Still serving.
      #expect(try await client.get("/health").status == .ok)
    }
  }

  @Test func missingAndInvalidFields() async throws {
    try await withServer { client, _ in
      let cases: [(String, String, String)] = [
        (Self.chat, #"{}"#, "messages"),
        (Self.chat, #"{"messages":[]}"#, "messages"),
        (Self.chat, #"{"messages":[{"content":"hi"}]}"#, "role"),
        (Self.chat, #"{"messages":[{"role":"wizard","content":"hi"}]}"#, "wizard"),
        (Self.chat, #"{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#, "image_url"),
        (Self.chat, #"{"messages":[{"role":"user","content":"hi"}],"temperature":"hot"}"#, "temperature"),
        (Self.chat, #"{"messages":[{"role":"user","content":"hi"}],"temperature":-1}"#, "temperature"),
        (Self.chat, #"{"messages":[{"role":"user","content":"hi"}],"top_p":2}"#, "top_p"),
        (Self.chat, #"{"messages":[{"role":"user","content":"hi"}],"top_k":-3}"#, "top_k"),
        (Self.chat, #"{"messages":[{"role":"user","content":"hi"}],"max_tokens":0}"#, "max_tokens"),
        (Self.chat, #"{"messages":[{"role":"user","content":"hi"}],"max_tokens":1.5}"#, "max_tokens"),
        (Self.chat, #"{"messages":[{"role":"user","content":"hi"}],"n":2}"#, "'n'"),
        (Self.chat, #"{"messages":[{"role":"user","content":"hi"}],"stop":5}"#, "stop"),
        (
          Self.chat, #"{"messages":[{"role":"user","content":"hi"}],"presence_penalty":3}"#,
          "presence_penalty"
        ),
        (Self.chat, #"{"messages":[{"role":"user","content":"hi"}],"stream":"yes"}"#, "stream"),
        ("/v1/completions", #"{"max_tokens":3}"#, "prompt"),
        ("/v1/completions", #"{"prompt":["a","b"]}"#, "one prompt"),
        ("/v1/completions", #"{"prompt":[99999]}"#, "vocabulary"),
        ("/v1/completions", #"{"prompt":"x","seed":0.5}"#, "seed"),
        ("/v1/completions", #"{"prompt":"x","logit_bias":{"abc":1}}"#, "logit_bias"),
        ("/v1/completions", #"{"prompt":"x","logit_bias":{"5000":1}}"#, "logit_bias"),
        ("/v1/completions", #"{"prompt":"x","logit_bias":{"5":300}}"#, "logit_bias"),
        ("/tokenize", #"{"text":"x"}"#, "content"),
        ("/detokenize", #"{"tokens":"abc"}"#, "tokens"),
      ]
      for (path, body, mention) in cases {
        let r = try await client.post(path, body)
        let message = try expectError(r, status: 400, type: "invalid_request_error")
        #expect(message.contains(mention), "\(body) → \(message)")
      }
      #expect(try await client.get("/health").status == .ok)
    }
  }

  @Test func promptLongerThanContext() async throws {
    try await withServer(context: 64) { client, _ in
      let long = String(repeating: "word ", count: 200)
      let message = try expectError(
        try await client.post("/v1/completions", #"{"prompt":"\#(long)"}"#), status: 400,
        type: "invalid_request_error")
      #expect(message.contains("context"))
      try expectError(
        try await client.post(Self.chat, #"{"messages":[{"role":"user","content":"\#(long)"}]}"#),
        status: 400,
        type: "invalid_request_error")
      #expect(try await client.post("/v1/completions", #"{"prompt":"hi","max_tokens":2}"#).status == .ok)
    }
  }

  @Test func bodyOverLimit() async throws {
    try await withServer(configure: { $0.maxBodyBytes = 1000 }) { client, _ in
      let big = String(repeating: "x", count: 2000)
      try expectError(
        try await client.post(Self.chat, #"{"messages":[{"role":"user","content":"\#(big)"}]}"#), status: 413,
        type: "invalid_request_error")
      try expectError(
        try await client.post("/tokenize", #"{"content":"\#(big)"}"#), status: 413,
        type: "invalid_request_error")
      #expect(try await client.post("/tokenize", #"{"content":"small"}"#).status == .ok)
    }
  }

  @Test func apiKey() async throws {
    try await withServer(configure: { $0.apiKey = "sekret" }) { client, _ in
      let body = #"{"prompt":"hi","max_tokens":1}"#
      try expectError(
        try await client.post("/v1/completions", body), status: 401, type: "authentication_error")
      try expectError(
        try await client.post("/v1/completions", body, headers: [.authorization: "Bearer wrong"]),
        status: 401,
        type: "authentication_error")
      try expectError(try await client.get("/v1/models"), status: 401, type: "authentication_error")
      try expectError(try await client.get("/metrics"), status: 401, type: "authentication_error")
      #expect(
        try await client.post("/v1/completions", body, headers: [.authorization: "Bearer sekret"]).status
          == .ok)
      #expect(try await client.get("/v1/models", headers: [.authorization: "Bearer sekret"]).status == .ok)
      // /health stays open, as llama-server's.
      #expect(try await client.get("/health").status == .ok)
    }
  }

  @Test func unknownRouteAndMethod() async throws {
    try await withServer { client, _ in
      try expectError(try await client.get("/v1/nothing"), status: 404, type: "not_found_error")
      let wrongMethod = try await client.get(Self.chat)
      #expect(wrongMethod.status.code == 404 || wrongMethod.status.code == 405)
      #expect(try wrongMethod.object()["error"] != nil)
    }
  }

  /// One slot, no queue: while a request holds the slot (the worker paused, so it cannot finish
  /// first), the next gets 503; afterwards it is served.
  @Test func queueFull() async throws {
    try await withServer(slots: 1, queue: 0, context: 256, startPaused: true) { client, server in
      let prompt = server.model.tokenizer.encode("hold the slot", addSpecial: true)
      let holder = try server.scheduler.submit(
        SlotRequest(promptTokens: prompt, maxTokens: 4, sampling: .greedy))
      let r = try await client.post("/v1/completions", #"{"prompt":"hi","max_tokens":2}"#)
      try expectError(r, status: 503, type: "unavailable_error")
      server.scheduler.resume()
      _ = try await collect(holder)
      #expect(await server.scheduler.waitUntilIdle(timeout: .seconds(10)))
      #expect(try await client.post("/v1/completions", #"{"prompt":"hi","max_tokens":2}"#).status == .ok)
    }
  }

  /// While draining (SIGTERM), new requests get 503.
  @Test func drainingRefusesNewRequests() async throws {
    try await withServer { client, server in
      server.scheduler.beginDrain()
      try expectError(
        try await client.post("/v1/completions", #"{"prompt":"hi","max_tokens":2}"#), status: 503,
        type: "unavailable_error")
      #expect(try await client.get("/health").status == .ok)
    }
  }
}
