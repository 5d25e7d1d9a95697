import Foundation
import Quanta
import Testing

@testable import QuantaLM

/// Generation under a grammar: a tiny random model (byte tokens and word pieces, so characters
/// split across tokens) samples under llama.cpp's json.gbnf and under a nested JSON schema; every
/// output must end at an end-of-generation token, parse with Foundation's JSON parsers and meet
/// the schema by checks written here (not by the grammar code).
@Suite struct GrammarGenerationTests {
  static func model() async throws -> (LanguageModel, String) {
    var spec = TinySpec.make(.llama)
    spec.context = 2048
    let path = try TinyModel.write(spec, seed: 7)
    let model = try await LanguageModel.load(
      path: path, device: .cpu, registry: .standard, options: ModelLoadOptions(contextLength: 2048))
    return (model, path)
  }

  /// `nested.json` decoded strictly (JSONDecoder refuses a number for a Bool and the reverse).
  struct Pet: Decodable {
    struct Owner: Decodable {
      struct Phone: Decodable {
        var type: String
        var digits: String
      }
      var name: String
      var phones: [Phone]
    }
    var kind: String
    var weight: Double
    var owner: Owner
    var active: Bool
    var notes: String?
    var scores: [Int]
  }

  /// What `nested.json` asks that decoding does not check.
  static func schemaProblems(_ text: String) -> [String] {
    // Foundation refuses numbers past Double's range, which JSON's grammar allows (RFC 8259 leaves
    // the range to parsers; Python reads them as inf) and llama.cpp's number rule can write (an
    // exponent of up to 16 digits): such an exponent is shortened before parsing.
    let parsable = text.replacingOccurrences(
      of: "[eE][-+]?[0-9]{4,}", with: "e0", options: .regularExpression)
    let data = Data(parsable.utf8)
    var problems: [String] = []
    guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
      return ["not a JSON object"]
    }
    // additionalProperties: false, and every property required (notes may be null).
    let keys = Set(object.keys)
    if keys != ["kind", "weight", "owner", "active", "notes", "scores"] {
      problems.append("keys \(keys.sorted())")
    }
    if !object.keys.contains("notes") { problems.append("notes missing") }
    let pet: Pet
    do {
      pet = try JSONDecoder().decode(Pet.self, from: data)
    } catch {
      return problems + ["does not decode: \(error)"]
    }
    if !["cat", "dog", "bird"].contains(pet.kind) { problems.append("kind \(pet.kind)") }
    if pet.owner.name.unicodeScalars.count > 10 { problems.append("owner.name longer than 10") }
    if !(1...2).contains(pet.owner.phones.count) { problems.append("\(pet.owner.phones.count) phones") }
    if let owner = object["owner"] as? [String: Any], Set(owner.keys) != ["name", "phones"] {
      problems.append("owner keys \(owner.keys.sorted())")
    }
    for p in pet.owner.phones {
      if !["home", "work"].contains(p.type) { problems.append("phone type \(p.type)") }
      if !(3...6).contains(p.digits.unicodeScalars.count) {
        problems.append("digits \(p.digits.debugDescription)")
      }
    }
    if let phones = (object["owner"] as? [String: Any])?["phones"] as? [[String: Any]] {
      for p in phones where Set(p.keys) != ["type", "digits"] {
        problems.append("phone keys \(p.keys.sorted())")
      }
    }
    if !(2...3).contains(pet.scores.count) { problems.append("\(pet.scores.count) scores") }
    if !pet.weight.isFinite { problems.append("weight \(pet.weight)") }
    return problems
  }

  @Test func nestedSchemaOutputsValidate() async throws {
    let (model, path) = try await Self.model()
    defer { try? FileManager.default.removeItem(atPath: path) }
    let schema = try String(
      contentsOf: GrammarSchemaTests.folder.appendingPathComponent("nested.json"), encoding: .utf8)
    let grammar = try Grammar(try JSONSchemaGrammar.gbnf(schema: schema))
    // The default chain (top-k 40, top-p, min-p, temperature 0.8), a hot one, and greedy.
    for (seed, temperature) in [(1, Float(0.8)), (2, 0.8), (3, 1.5), (4, 1.5), (5, 0)] as [(UInt64, Float)] {
      var sampling = SamplingOptions()
      sampling.seed = seed
      sampling.temperature = temperature
      sampling.grammar = GrammarConstraint(grammar, model: model)
      let (text, summary) = try await model.complete(
        prompt: "pet:", options: GenerationOptions(maxTokens: 1500, sampling: sampling))
      #expect(summary.stopReason == .endOfGeneration(2), "seed \(seed): \(summary.stopReason) \(text)")
      #expect(Self.schemaProblems(text) == [], "seed \(seed): \(text)")
      // The printed text is the tokens' text: what the grammar read.
      #expect(text == model.tokenizer.decode(summary.tokenIDs))
    }
  }

  @Test func jsonGrammarOutputsParse() async throws {
    let (model, path) = try await Self.model()
    defer { try? FileManager.default.removeItem(atPath: path) }
    let source = try String(
      contentsOf: GrammarTests.folder.appendingPathComponent("llama.cpp/json.gbnf"), encoding: .utf8)
    let grammar = try Grammar(source)
    // json.gbnf has no bound on nesting or string length: a bias toward closing characters (and
    // the end token) lets a random model finish in a few hundred tokens. The bias only moves
    // probabilities; which tokens may come is the grammar's.
    var bias: [Int32: Float] = [2: 6]
    for id in 0..<Int32(model.tokenizer.vocabulary.count) {
      if ["}", "]", "\""].contains(String(decoding: model.tokenizer.piece(id), as: UTF8.self)) {
        bias[id] = 6
      }
    }
    for seed in 1...4 as ClosedRange<UInt64> {
      var sampling = SamplingOptions()
      sampling.seed = seed
      sampling.logitBias = bias
      sampling.grammar = GrammarConstraint(grammar, model: model)
      let (text, summary) = try await model.complete(
        prompt: "json:", options: GenerationOptions(maxTokens: 1500, sampling: sampling))
      #expect(summary.stopReason == .endOfGeneration(2), "seed \(seed): \(summary.stopReason) \(text)")
      let parsed = try? JSONSerialization.jsonObject(with: Data(text.utf8))
      #expect(parsed is [String: Any], "seed \(seed): \(text)")
    }
  }

  /// Without a grammar the same model does not write JSON: the grammar is what makes it.
  @Test func withoutTheGrammarTheModelWritesNoJSON() async throws {
    let (model, path) = try await Self.model()
    defer { try? FileManager.default.removeItem(atPath: path) }
    var sampling = SamplingOptions()
    sampling.seed = 1
    let (text, _) = try await model.complete(
      prompt: "pet:", options: GenerationOptions(maxTokens: 60, sampling: sampling))
    #expect(Self.schemaProblems(text) != [])
  }

  /// The sampler's resampling path: a grammar that allows one token only, against logits that
  /// rank it last. llama.cpp's order: the chain draws, the grammar refuses, the chain runs again
  /// over the allowed tokens.
  @Test func refusedDrawIsResampledFromAllowedTokens() async throws {
    let (model, path) = try await Self.model()
    defer { try? FileManager.default.removeItem(atPath: path) }
    let v = model.tokenizer.vocabulary.count
    let z = Int32(3 + 0x7A)  // the byte token of "z"
    var logits = (0..<v).map { Float(v - $0) }  // token 0 best, the byte tokens next, "z" far down
    logits[Int(z)] = -50
    for temperature in [Float(0), 0.8] {
      var sampling = SamplingOptions()
      sampling.temperature = temperature
      sampling.grammar = GrammarConstraint(try Grammar(#"root ::= "z" "y""#), model: model)
      var sampler = Sampler(sampling)
      let first = sampler.sample(logits)
      #expect(first == z)
      sampler.accept(first)
      // Now only "y" may come, then only the end token.
      let second = sampler.sample(logits)
      #expect(second == Int32(3 + 0x79))
      sampler.accept(second)
      #expect(sampler.grammarComplete)
      let end = sampler.sample(logits)
      #expect(end == 2)
      #expect(!sampler.grammarFailed)
    }
    // Prompt tokens accepted before any sample do not move the grammar.
    var sampling = SamplingOptions()
    sampling.grammar = GrammarConstraint(try Grammar(#"root ::= "z""#), model: model)
    var sampler = Sampler(sampling)
    for t in [Int32(5), 6, 7] { sampler.accept(t) }
    let only = sampler.sample(logits)
    #expect(only == z)
  }
}
