import Foundation
import GGUF
import Quanta
import QuantaCore
import Testing

@testable import QuantaLM

/// Tier 4: Gemma 3 270M Q4_K_M reproduces the reference implementation's greedy continuation.
@Suite struct ModelGemma3Tests {
  /// The prompt and expected continuation of `greedy.txt`.
  static func reference() throws -> (prompt: String, expected: String) {
    let text = try String(
      contentsOfFile: try TestModels.sharedFile("testdata/gemma3-270m/greedy.txt"), encoding: .utf8)
    var prompt: String?
    var expected: String?
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      if line.hasPrefix("PROMPT: ") { prompt = String(line.dropFirst("PROMPT: ".count)) }
      if line.hasPrefix("OUTPUT: ") { expected = String(line.dropFirst("OUTPUT: ".count)) }
    }
    return (try #require(prompt), try #require(expected))
  }

  static func greedy(on backend: any ComputeBackend) async throws -> (String, GenerationSummary) {
    let model = try await LanguageModel.load(
      path: try TestModels.gemma3(), backend: backend, options: ModelLoadOptions(contextLength: 256))
    #expect(model.chatTemplate == .gemma)
    return try await model.complete(
      prompt: try reference().prompt, options: GenerationOptions(maxTokens: 32, sampling: .greedy))
  }

  /// The exact reproduction, token for token.
  @Test func greedyContinuationMatchesReference() async throws {
    let (text, summary) = try await Self.greedy(on: try BackendRegistry.standard.backend(for: .cpu))
    print("gemma3 greedy ids: \(summary.tokenIDs.map(String.init).joined(separator: " "))")
    print("gemma3 greedy text: \(text)")
    #expect(summary.generatedTokens == 32)
    #expect(text == (try Self.reference().expected))
    #expect(summary.tokenIDs.suffix(32) == Self.referenceIDs)
  }

  /// FNV-1a 64 of each step's logits (262 144 little-endian f32) from llama.cpp (ggml 0.25.3, CPU,
  /// flash attention, 2 threads; built from the llama-cpp-python 0.3.36 sdist on this machine kind,
  /// AMD EPYC Zen 4 with AVX-512 VNNI): the prompt, then teacher-forced through the reference ids.
  static let llamaCppLogitDigests: [UInt64] = [
    0x51DE_ABE4_47E6_062F, 0x47D4_7B22_7E78_EB2A, 0x1C99_AF64_6C44_B39B, 0x7A48_6DAC_F247_74A5,
    0x88D0_E980_64D9_EE9F, 0x1546_457D_353C_6DBD, 0x7EB6_9FCF_8DB7_50F8, 0xEF2F_175D_866B_6D33,
    0x18C9_C57A_E39F_73AD, 0x1C67_B885_70F9_C95F, 0x932A_B243_0290_10B6, 0xA851_8331_DF1B_C6DE,
    0xC341_E3D4_A191_652D, 0x54B5_6D6B_EFA9_F4AE, 0x3E57_2DB3_05F9_C8D0, 0x23BD_54AE_2E34_BD8E,
    0x018C_DC47_6B20_E568, 0x84A8_C922_8277_BB26, 0x095D_7F8D_D45F_9757, 0x253D_633D_8C70_B28C,
    0x1D10_6370_CC5A_F4A6, 0xDE66_1370_93E9_B310, 0xA5D0_6C24_1039_BD9D, 0x581D_94AB_4DEF_D146,
    0x642E_B4B4_329A_366A, 0x4F34_063A_0C72_8E1B, 0x4328_54FA_898A_FA39, 0x2BBA_6046_1C22_A0F8,
    0xDF0A_0364_AEA7_DB31, 0x0E9C_EE38_024D_6743, 0x229C_BE6B_D526_98F1, 0x4DB1_C7B4_4701_74CE,
  ]

  static func fnv1a(_ values: [Float]) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for v in values {
      var bits = v.bitPattern
      for _ in 0..<4 {
        h = (h ^ UInt64(bits & 0xFF)) &* 0x0000_0100_0000_01B3
        bits >>= 8
      }
    }
    return h
  }

  /// Teacher-forced through the reference continuation, every step's logits equal llama.cpp's bit
  /// for bit on x86 (the CPU kernels reproduce ggml's x86 sums, cpu_kernels.h; the ops its
  /// numerics), and the reference token is the argmax everywhere.
  @Test func logitsEqualLlamaCppBitForBit() async throws {
    let model = try await LanguageModel.load(
      path: try TestModels.gemma3(), device: .cpu, registry: .standard,
      options: ModelLoadOptions(contextLength: 256))
    let (prompt, expected) = try Self.reference()
    let promptIDs = model.tokenizer.encode(prompt)
    #expect(promptIDs == [2, 818, 5279, 529, 7001, 563])
    #expect(model.tokenizer.decode(Self.referenceIDs) == expected)
    let session = try model.makeSession()
    var logits = try session.evaluate(tokens: promptIDs)
    var differing: [Int] = []
    for (step, id) in Self.referenceIDs.enumerated() {
      let best = logits.indices.max { logits[$0] < logits[$1] }
      #expect(best == Int(id), "step \(step): argmax \(best ?? -1), reference \(id)")
      if Self.fnv1a(logits) != Self.llamaCppLogitDigests[step] { differing.append(step) }
      try session.evaluate(token: id)
      logits = session.withLastLogits { Array($0) }
    }
    #if arch(x86_64)
      #expect(differing.isEmpty, "logits differ from llama.cpp's at steps \(differing)")
    #else
      // NEON kernels sum in their own order (cpu_kernels.h): only the argmax is held there.
      print("logit steps differing from llama.cpp's x86 run: \(differing)")
    #endif
  }

  /// The reference continuation's ids (Gemma 3 vocabulary); their text is `greedy.txt`'s OUTPUT.
  static let referenceIDs: [Int32] = [
    506, 5279, 529, 506, 2891, 529, 7001, 236761, 1030, 563, 506, 7488, 3207, 528, 7001, 236761, 1030, 563,
    506, 5279,
    529, 506, 2891, 529, 7001, 236761, 1030, 563, 506, 7488, 3207, 528,
  ]
}
