import ArgumentParser
import Foundation
import QuantaTools
import Testing

@testable import quanta

/// `-ctk` / `-ctv` (llama.cpp's `--cache-type-k` / `--cache-type-v`) on every command that loads a
/// model for generation or scoring, into `ModelSettings` and the load options.
@Suite struct CacheTypeParsingTests {
  @Test func runTakesBothSpellings() throws {
    let short = try Run.parse(["-p", "x", "-ctk", "q8_0", "-ctv", "q4_0"])
    var settings = ModelSettings()
    try short.cacheTypes.apply(to: &settings)
    #expect(settings.keyCacheType == .q8_0 && settings.valueCacheType == .q4_0)
    #expect(settings.loadOptions().keyCacheType == .q8_0 && settings.loadOptions().valueCacheType == .q4_0)
    let long = try Run.parse(["-p", "x", "--cache-type-k", "bf16", "--cache-type-v", "Q8_0"])
    try long.cacheTypes.apply(to: &settings)
    #expect(settings.keyCacheType == .bf16 && settings.valueCacheType == .q8_0)
    // Default: f16 for both.
    let plain = try Run.parse(["-p", "x"])
    try plain.cacheTypes.apply(to: &settings)
    #expect(settings.keyCacheType == .f16 && settings.valueCacheType == .f16)
    #expect(ModelSettings().loadOptions().keyCacheType == .f16)
  }

  @Test func everyModelCommandTakesThem() throws {
    #expect(try PerplexityCommand.parse(["-f", "t.txt", "-ctk", "q4_0"]).cacheTypes.types().key == .q4_0)
    #expect(try BenchModel.parse(["-ctv", "q8_0"]).cacheTypes.types().value == .q8_0)
    #expect(try Serve.parse(["-ctk", "bf16", "-ctv", "bf16"]).cacheTypes.types() == (.bf16, .bf16))
  }

  @Test func otherTypesAreUsageErrorsNamingTheAllowedOnes() {
    for args in [
      ["-p", "x", "-ctk", "q5_1"], ["-p", "x", "-ctv", "f32"], ["-p", "x", "--cache-type-k", "iq4_nl"],
    ] {
      do {
        _ = try Run.parse(args)
        Issue.record("\(args) parsed")
      } catch {
        let message = Run.message(for: error)
        #expect(message.contains("f16, bf16, q8_0, q4_0"), "\(message)")
        #expect(message.contains(args[3]), "\(message)")
        #expect(Run.exitCode(for: error) != .success)
      }
    }
  }
}
