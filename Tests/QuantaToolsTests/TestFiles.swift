import Foundation
import GGUF
import Testing

/// A fresh directory under the system temp dir, removed by `cleanup()`.
struct TempDir {
  let path: String

  init() throws {
    path = NSTemporaryDirectory() + "quanta-tools-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  }

  func file(_ name: String) -> String { path + "/" + name }

  func contents() throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: path).sorted()
  }

  func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// Deterministic values in [-1, 1) (an LCG, so tests do not depend on the system RNG).
func pseudoRandom(_ count: Int, seed: UInt64) -> [Float] {
  var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
  return (0..<count).map { _ in
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return Float(state >> 40) / Float(1 << 23) - 1
  }
}

func bytes(of values: [Float]) -> [UInt8] {
  values.withUnsafeBytes { [UInt8]($0) }
}

/// A small llama-shaped model in F32: 2 layers, 256-wide rows, norms, tied-free output, and a
/// vocabulary array long enough to be summarized.
struct SmallModel {
  var tensors: [(name: String, shape: [Int], values: [Float])] = []
  var metadata: [(String, GGUFValue)] = []

  init(layers: Int = 2, columns: Int = 256) {
    metadata = [
      ("general.architecture", .string("llama")),
      ("general.name", .string("tiny test model " + String(repeating: "x", count: 200))),
      ("general.file_type", .uint32(0)),
      ("llama.block_count", .uint32(UInt32(layers))),
      ("llama.attention.head_count", .uint32(4)),
      ("llama.attention.head_count_kv", .uint32(4)),
      ("llama.rope.freq_base", .float32(10000)),
      // As many tokens as token_embd has rows: `quantize` refuses inconsistent models.
      ("tokenizer.ggml.tokens", .array(GGUFArray(.string((0..<32).map { "tok\($0)" })))),
    ]
    var seed: UInt64 = 1
    func add(_ name: String, _ shape: [Int]) {
      tensors.append((name, shape, pseudoRandom(shape.reduce(1, *), seed: seed)))
      seed += 1
    }
    add("token_embd.weight", [columns, 32])
    for i in 0..<layers {
      add("blk.\(i).attn_norm.weight", [columns])
      add("blk.\(i).attn_q.weight", [columns, 16])
      add("blk.\(i).attn_v.weight", [columns, 8])
      add("blk.\(i).ffn_down.weight", [columns, 16])
    }
    add("output_norm.weight", [columns])
    add("output.weight", [columns, 32])
  }

  func write(to path: String) throws {
    var writer = GGUFWriter(alignment: 32)
    for (k, v) in metadata { writer.set(k, v) }
    for t in tensors {
      writer.addTensor(name: t.name, type: .f32, shape: t.shape, bytes: bytes(of: t.values))
    }
    try writer.write(to: path)
  }

  func values(_ name: String) -> [Float]? { tensors.first { $0.name == name }?.values }
}

/// ‖a − b‖ / ‖b‖: the error relative to the signal.
func relativeError(_ a: [Float], _ b: [Float]) -> Double {
  var num = 0.0
  var den = 0.0
  for (x, y) in zip(a, b) {
    num += Double(x - y) * Double(x - y)
    den += Double(y) * Double(y)
  }
  return (num / max(den, 1e-30)).squareRoot()
}

/// A tensor of `file` as f32, through the reference dequantizer.
func dequantized(_ file: GGUFFile, _ name: String) throws -> [Float] {
  let info = try #require(file.tensor(named: name))
  return try file.withData(for: info) { try info.type.dequantize($0, count: info.elementCount) }
}
