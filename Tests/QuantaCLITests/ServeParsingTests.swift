import ArgumentParser
import Foundation
import QuantaTools
import Testing

@testable import quanta

/// `quanta serve` takes llama-server's flags and refuses values it cannot serve with.
@Suite struct ServeParsingTests {
  @Test func llamaServerFlagsParse() throws {
    let serve = try Serve.parse([
      "-m", "m.gguf", "--host", "0.0.0.0", "--port", "0", "-c", "8192", "-np", "4", "-b", "128", "-t", "2",
      "--device", "cuda:0", "--api-key", "k", "-a", "my-model", "--chat-template", "chatml",
      "--queue-size", "3", "--shutdown-timeout", "2.5",
    ])
    #expect(serve.model == "m.gguf" && serve.host == "0.0.0.0" && serve.port == 0)
    #expect(serve.ctxSize == 8192 && serve.parallel == 4 && serve.batchSize == 128 && serve.threads == 2)
    #expect(serve.device == "cuda:0" && serve.apiKey == "k" && serve.alias == "my-model")
    #expect(serve.chatTemplate == "chatml" && serve.queueSize == 3 && serve.shutdownTimeout == 2.5)
    #expect(try Serve.parse(["--parallel", "2"]).parallel == 2)
  }

  @Test func defaultsAreLlamaServers() throws {
    let serve = try Serve.parse([])
    #expect(serve.model == nil && serve.host == "127.0.0.1" && serve.port == 8080)
    #expect(serve.ctxSize == 4096 && serve.parallel == 1 && serve.apiKey == nil)
  }

  @Test func invalidValuesAreRefused() {
    for args in [
      ["-np", "0"], ["--port", "70000"], ["--queue-size", "-1"],
      ["--shutdown-timeout", "-1"], ["--grammar", "x"],
    ] {
      #expect(throws: (any Error).self, "\(args)") { try Serve.parse(args) }
    }
  }

  /// `-np` is one of the single-dash words the CLI lets through (others, such as `-hf`, are refused
  /// before parsing).
  @Test func npIsAKnownSingleDashWord() {
    #expect(Quanta.singleDashWords.contains("-np"))
    #expect(CLIText.unsupportedSingleDash(["serve", "-np", "4"], known: Quanta.singleDashWords) == nil)
  }
}
