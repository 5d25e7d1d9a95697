import Foundation
import GGUF
import Testing

/// The default model (TESTING.md tier 4), cached by `scripts/fetch_default_model.py`.
let gemmaPath: String = {
  let env = ProcessInfo.processInfo.environment
  let cache =
    env["QUANTA_CACHE"].map { URL(fileURLWithPath: $0) }
    ?? URL(fileURLWithPath: env["XDG_CACHE_HOME"] ?? NSHomeDirectory() + "/.cache").appendingPathComponent(
      "quanta")
  return cache.appendingPathComponent("models/gemma-3-270m-q4_k_m.gguf").path
}()

@Suite struct GGUFRealModelTests {
  /// Tier 4 fails (never skips) without the model: `scripts/setup.sh` fetches it.
  @Test func gemma3Parses() throws {
    try #require(
      FileManager.default.fileExists(atPath: gemmaPath),
      "Gemma 3 270M is not in the model cache at \(gemmaPath): run scripts/setup.sh")
    let clock = ContinuousClock()
    let start = clock.now
    let f = try GGUFFile(path: gemmaPath)
    let elapsed = clock.now - start
    print("parsed \(gemmaPath) (\(f.fileSize) bytes, \(f.tensors.count) tensors) in \(elapsed)")
    #expect(f.format == .gguf(version: 3))
    #expect(try f.metadata.string("general.architecture") == "gemma3")
    #expect(try f.metadata.stringArray("tokenizer.ggml.tokens").count == 262_144)
    let embd = try #require(f.tensor(named: "token_embd.weight"))
    #expect(embd.shape == [640, 262_144])
    #expect(f.tensors.allSatisfy { $0.offset % f.alignment == 0 && $0.offset + $0.byteCount <= f.fileSize })
    try f.validateModelMetadata()
  }
}
