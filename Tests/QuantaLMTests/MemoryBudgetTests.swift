import Foundation
import GGUF
import Quanta
import QuantaCore
import Testing

@testable import QuantaLM

/// Issue 17 §1: a load is checked against the device's available memory before anything is
/// allocated. (The same refusal in a process under a memory limit: QuantaCLITests'
/// ProcessReliabilityTests.)
@Suite struct MemoryBudgetTests {
  /// A tiny model whose KV cache at its 16M-token training context is 4 TiB (16 layers × 32 KV
  /// heads × 128 × f16 × K and V = 256 KiB a token): more than any machine these tests run on has.
  static func hugeContextSpec() -> TinySpec {
    var s = TinySpec(arch: .llama, layers: 16, d: 32, heads: 32, kvHeads: 32, headDim: 128, ff: 64)
    s.context = 1 << 24
    s.vocab = 300
    s.types = (.q8_0, .q8_0, .q8_0, .q8_0, .f16)
    return s
  }

  @Test func aContextThatCannotFitIsRefusedBeforeAllocating() async throws {
    let path = try TinyModel.write(Self.hugeContextSpec())
    defer { try? FileManager.default.removeItem(atPath: path) }
    let backend = try CPUBackend()
    let available = try #require(backend.availableMemory)
    do {
      // -c 0: the model's own context.
      _ = try await LanguageModel.load(path: path, backend: backend, options: .init(contextLength: 1 << 30))
      Issue.record("a 4 TiB KV cache was accepted with \(available) bytes available")
    } catch let error as ModelError {
      guard case .insufficientMemory(let device, let needed, let free, let largest) = error else {
        Issue.record("unexpected error \(error)")
        return
      }
      #expect(device == "cpu")
      #expect(needed.contextLength == 1 << 24)
      #expect(needed.kvBytesPerToken == 16 * 2 * 32 * 128 * 2)
      #expect(needed.kvCache == (1 << 24) * needed.kvBytesPerToken)
      #expect(needed.weights == 0)  // mapped on the CPU
      #expect(free > 0 && free < needed.total)
      let fits = try #require(largest)
      #expect(needed.weights + needed.compute + fits * needed.kvBytesPerToken <= free)
      #expect(error.description.contains("KV cache 4.00 TiB for 16777216 tokens"))
      #expect(error.description.contains("lower it with -c"))
    }
  }

  /// The estimate counts exactly the KV cache a session allocates, and a model that fits loads.
  @Test func theEstimateMatchesTheSessionsCache() async throws {
    let spec = TinySpec.make(.llama)
    let path = try TinyModel.write(spec)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let model = try await LanguageModel.load(
      path: path, backend: try CPUBackend(), options: .init(contextLength: 48, batchSize: 16))
    let session = try model.makeSession()
    #expect(model.memoryEstimate.contextLength == 48)
    #expect(model.memoryEstimate.kvCache == session.cache.byteCount)
    #expect(model.memoryEstimate.kvCache == model.kvCacheBytes)
    #expect(model.memoryEstimate.compute >= ActivationBuffers.byteCount(config: model.config, capacity: 16))
  }

  @Test func largestContextAndSizes() {
    var e = MemoryEstimate(
      weights: 1000, kvCache: 0, compute: 500, contextLength: 0, kvBytesPerToken: 100)
    #expect(e.largestContext(fitting: 1500) == nil)
    #expect(e.largestContext(fitting: 1600) == 1)
    #expect(e.largestContext(fitting: 100_000) == 985)
    e.kvCache = 200
    #expect(e.total == 1700)
    #expect(MemoryEstimate.format(512) == "512 B")
    #expect(MemoryEstimate.format(1536) == "1.50 KiB")
    #expect(MemoryEstimate.format(4 << 40) == "4.00 TiB")
    let error = ModelError.insufficientMemory(device: "cuda:0", needed: e, available: 1600, largestContext: 1)
    #expect(error.description.contains("a context of at most 1 tokens fits"))
    let none = ModelError.insufficientMemory(device: "cuda:0", needed: e, available: 10, largestContext: nil)
    #expect(none.description.hasSuffix("use a smaller model or a smaller quantization"))
  }
}
