import Foundation
import HummingbirdTesting
import QuantaLM
import Testing

@testable import QuantaServer

/// `logprobs` on both completion endpoints: the values against a log-softmax computed here from a
/// fresh session's logits, and the arithmetic on a hand-made distribution.
@Suite struct LogprobTests {
  /// Probabilities 1/8, 2/8, 3/8, 2/8: the sampled token's log-probability, and the top three by
  /// probability with the tie (ids 1 and 3) broken by the lower id.
  @Test func handMadeDistribution() {
    let logits: [Float] = [0, Float(log(2.0)), Float(log(3.0)), Float(log(2.0))]
    let r = logits.withUnsafeBufferPointer {
      TokenLogprob.compute($0, sampled: 0, top: 3) { [UInt8(65 + $0)] }
    }
    #expect(r.token.id == 0 && r.token.bytes == [65])
    #expect(abs(Double(r.token.logprob) - log(1.0 / 8)) < 1e-6)
    #expect(r.top.map(\.id) == [2, 1, 3])
    #expect(r.top.map(\.bytes) == [[67], [66], [68]])
    for (t, p) in zip(r.top, [3.0 / 8, 2.0 / 8, 2.0 / 8]) { #expect(abs(Double(t.logprob) - log(p)) < 1e-6) }
    // More alternatives asked than tokens: all of them; none asked: none.
    let all = logits.withUnsafeBufferPointer { TokenLogprob.compute($0, sampled: 1, top: 20) { _ in [] } }
    #expect(all.top.map(\.id) == [2, 1, 3, 0])
    let none = logits.withUnsafeBufferPointer { TokenLogprob.compute($0, sampled: 1, top: 0) { _ in [] } }
    #expect(none.top.isEmpty)
  }

  /// The first generated token's entry is the log-softmax of the prompt's last logits, as a fresh
  /// session computes them, and its alternatives are the five largest.
  @Test func chatLogprobsAreTheModelsDistribution() async throws {
    try await withServer { client, server in
      let r = try await client.post(
        "/v1/chat/completions",
        #"{"messages":[{"role":"user","content":"Hi"}],"temperature":0,"max_tokens":3,"logprobs":true,"top_logprobs":5}"#
      )
      #expect(r.status == .ok, "\(r.text)")
      let choice = try #require((try r.object()["choices"] as? [[String: Any]])?.first)
      let content = try #require((choice["logprobs"] as? [String: Any])?["content"] as? [[String: Any]])
      #expect(content.count == 3)
      let first = content[0]

      let model = server.model
      let text = try server.template.apply([.init(.user, "Hi")])
      let prompt = model.chatPromptTokens(text, template: server.template, addSpecial: true)
      let session = try model.makeSession()
      try session.evaluate(tokens: prompt)
      let logits = session.withLastLogits { Array($0) }
      let m = Double(logits.max()!)
      let logZ = m + log(logits.reduce(0.0) { $0 + exp(Double($1) - m) })
      let order = logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
      let tops = try #require(first["top_logprobs"] as? [[String: Any]])
      #expect(tops.count == 5)
      for (entry, id) in zip(tops, order.prefix(5)) {
        #expect(entry["bytes"] as? [Int] == model.tokenizer.piece(Int32(id), special: true).map(Int.init))
        let lp = try #require(entry["logprob"] as? Double)
        #expect(abs(lp - (Double(logits[id]) - logZ)) < 1e-4, "token \(id)")
      }
      // Greedy: the generated token is the first alternative.
      #expect(first["bytes"] as? [Int] == tops[0]["bytes"] as? [Int])
      #expect(first["logprob"] as? Double == tops[0]["logprob"] as? Double)
    }
  }

  @Test func completionLogprobsShape() async throws {
    try await withServer { client, _ in
      let r = try await client.post(
        "/v1/completions",
        #"{"prompt":"Once upon","temperature":0,"max_tokens":4,"logprobs":2,"ignore_eos":true}"#)
      #expect(r.status == .ok, "\(r.text)")
      let choice = try #require((try r.object()["choices"] as? [[String: Any]])?.first)
      let lp = try #require(choice["logprobs"] as? [String: Any])
      let tokens = try #require(lp["tokens"] as? [String])
      let values = try #require(lp["token_logprobs"] as? [Double])
      let tops = try #require(lp["top_logprobs"] as? [[String: Double]])
      let offsets = try #require(lp["text_offset"] as? [Int])
      #expect(tokens.count == 4 && values.count == 4 && tops.count == 4 && offsets.count == 4)
      #expect(offsets.first == 0)
      for i in 0..<4 {
        #expect(values[i] <= 0)
        #expect((1...2).contains(tops[i].count))
        if i > 0 { #expect(offsets[i] == offsets[i - 1] + tokens[i - 1].unicodeScalars.count) }
      }
    }
  }

  @Test func badValuesAre400() async throws {
    try await withServer { client, _ in
      for body in [
        #"{"messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":21}"#,
        #"{"messages":[{"role":"user","content":"x"}],"top_logprobs":1}"#,
        #"{"messages":[{"role":"user","content":"x"}],"logprobs":"yes"}"#,
      ] {
        let message = try expectError(
          try await client.post("/v1/chat/completions", body), status: 400, type: "invalid_request_error")
        #expect(message.contains("logprobs"), "\(message)")
      }
      for value in ["-1", "21", "0.5", "true"] {
        let message = try expectError(
          try await client.post("/v1/completions", #"{"prompt":"x","logprobs":\#(value)}"#), status: 400,
          type: "invalid_request_error")
        #expect(message.contains("logprobs"), "\(message)")
      }
    }
  }
}
