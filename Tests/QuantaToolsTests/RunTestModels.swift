import Foundation

/// Paths of the real reference data and model (TESTING.md tier 4), located as in
/// Tests/QuantaLMTests/Support/TestModels.swift. Missing files fail the test that needs them.
enum RunTestModels {
  static let repoRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  static let shared = repoRoot.deletingLastPathComponent().appendingPathComponent("shared")

  struct Missing: Error, CustomStringConvertible {
    let description: String
  }

  /// The default model in Quanta's cache (`scripts/setup.sh` puts it there).
  static func gemma3() throws -> String {
    let env = ProcessInfo.processInfo.environment
    let base: URL
    if let c = env["QUANTA_CACHE"] {
      base = URL(fileURLWithPath: c)
    } else {
      let cache = env["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")
      base = URL(fileURLWithPath: cache).appendingPathComponent("quanta")
    }
    let path = base.appendingPathComponent("models/gemma-3-270m-q4_k_m.gguf").path
    guard FileManager.default.fileExists(atPath: path) else {
      throw Missing(description: "\(path) is missing: run scripts/setup.sh (it fetches the default model)")
    }
    return path
  }

  static func sharedFile(_ relative: String) throws -> String {
    let path = shared.appendingPathComponent(relative).path
    guard FileManager.default.fileExists(atPath: path) else {
      throw Missing(description: "\(path) is missing (../shared must sit beside the repository)")
    }
    return path
  }
}
