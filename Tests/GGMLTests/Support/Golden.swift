import Foundation
import GGML
import GGUF

/// The golden vectors of ggml's reference quantizers, `../shared/testdata/quant_golden.gguf` (see the
/// README next to it): `input.<case>` (f32), `<type>.<case>` (reference-quantized) and
/// `<type>.<case>.dequant` (f32, reference dequantization), for 16 types × 10 cases.
enum Golden {
  /// The ten input cases, 4096 values each.
  static let cases = [
    "cos", "normal", "outliers", "zeros", "const", "tiny", "large", "positive", "sparse", "ramp",
  ]
  /// Every type the file holds, in its order.
  static let types: [GGMLType] = [
    .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1,
    .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K, .iq4_nl, .iq4_xs,
  ]
  static let elementsPerCase = 4096

  /// Located from this source file: Tests/GGMLTests/Support/ → repo root → ../shared/testdata.
  static let path: String = {
    let repoRoot = URL(fileURLWithPath: #filePath)
      .deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().deletingLastPathComponent()
    return repoRoot.deletingLastPathComponent()
      .appendingPathComponent("shared/testdata/quant_golden.gguf").standardizedFileURL.path
  }()

  /// The file, parsed once for the whole test run (tests run in parallel and share it).
  static let file: Result<GoldenFile, GoldenError> = {
    guard FileManager.default.fileExists(atPath: path) else {
      return .failure(.missingFile(path))
    }
    do {
      return .success(try GoldenFile(path: path))
    } catch {
      return .failure(.unreadable(path, "\(error)"))
    }
  }()

  static func load() throws -> GoldenFile { try file.get() }
}

enum GoldenError: Error, CustomStringConvertible {
  case missingFile(String)
  case unreadable(String, String)
  case missingTensor(String)
  case wrongTensor(String, String)

  var description: String {
    switch self {
    case .missingFile(let p):
      return "golden file not found at \(p) (expected ../shared/testdata/quant_golden.gguf next to the repo)"
    case .unreadable(let p, let why): return "golden file \(p) could not be read: \(why)"
    case .missingTensor(let name): return "golden file has no tensor \(name)"
    case .wrongTensor(let name, let why): return "golden tensor \(name): \(why)"
    }
  }
}

/// All tensors of the golden file, copied out of the map as (type, bytes).
struct GoldenFile: Sendable {
  private let tensors: [String: (type: GGMLType, bytes: [UInt8])]

  init(path: String) throws {
    let gguf = try GGUFFile(path: path)
    var table: [String: (type: GGMLType, bytes: [UInt8])] = [:]
    for info in gguf.tensors {
      table[info.name] = (info.type, gguf.withData(for: info) { [UInt8]($0) })
    }
    tensors = table
  }

  /// The raw bytes of `name`, checked to be of `type` and to hold `Golden.elementsPerCase` values.
  func bytes(_ name: String, type: GGMLType) throws -> [UInt8] {
    guard let t = tensors[name] else { throw GoldenError.missingTensor(name) }
    guard t.type == type else { throw GoldenError.wrongTensor(name, "type \(t.type), expected \(type)") }
    let expected = type.byteCount(forElements: Golden.elementsPerCase)
    guard t.bytes.count == expected else {
      throw GoldenError.wrongTensor(
        name, "\(t.bytes.count) bytes, expected \(expected.map(String.init) ?? "?")")
    }
    return t.bytes
  }

  /// An f32 tensor's values (little-endian on disk).
  func floats(_ name: String) throws -> [Float] {
    let raw = try bytes(name, type: .f32)
    return raw.withUnsafeBytes { buf in
      (0..<(raw.count / 4)).map {
        Float(bitPattern: UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))
      }
    }
  }

  func input(_ testCase: String) throws -> [Float] { try floats("input.\(testCase)") }
  func quantized(_ type: GGMLType, _ testCase: String) throws -> [UInt8] {
    try bytes("\(type.name).\(testCase)", type: type)
  }
  func dequantized(_ type: GGMLType, _ testCase: String) throws -> [Float] {
    try floats("\(type.name).\(testCase).dequant")
  }
}
