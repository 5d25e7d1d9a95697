import ArgumentParser
import Quanta
import QuantaTools

/// `-ctk` / `-ctv` (llama.cpp's `--cache-type-k` / `--cache-type-v`), shared by `run`, `perplexity`,
/// `bench model` and `serve`.
struct CacheTypeOptions: ParsableArguments {
  @Option(
    name: [.customLong("ctk", withSingleDash: true), .customLong("cache-type-k")],
    help: "KV cache type for K: \(KVCacheType.allowedNames).")
  var cacheTypeK = "f16"

  @Option(
    name: [.customLong("ctv", withSingleDash: true), .customLong("cache-type-v")],
    help: "KV cache type for V: \(KVCacheType.allowedNames).")
  var cacheTypeV = "f16"

  /// The parsed types; an unknown name is a usage error naming the allowed ones.
  func types() throws -> (key: KVCacheType, value: KVCacheType) {
    do {
      return (try KVCacheType(parsing: cacheTypeK), try KVCacheType(parsing: cacheTypeV))
    } catch {
      throw ValidationError("\(error)")
    }
  }

  func validate() throws { _ = try types() }

  /// Sets `settings`' cache types.
  func apply(to settings: inout ModelSettings) throws {
    (settings.keyCacheType, settings.valueCacheType) = try types()
  }
}
