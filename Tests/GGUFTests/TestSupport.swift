import Foundation
import GGUF
import Testing

/// `<repo>/../shared`, found from this source file (tests run from any directory).
let sharedFolder: URL = URL(fileURLWithPath: #filePath)
  .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  .deletingLastPathComponent().appendingPathComponent("shared")

let goldenPath = sharedFolder.appendingPathComponent("testdata/quant_golden.gguf").path

/// A fresh temporary file path (removed by the caller's `defer`).
func temporaryPath(_ suffix: String = ".gguf") -> String {
  FileManager.default.temporaryDirectory
    .appendingPathComponent("gguf-test-\(UUID().uuidString)\(suffix)").path
}

/// Hand-assembles file images byte by byte, independent of GGUFWriter, so tests can build the
/// malformed files the writer refuses to make.
struct Bytes {
  var data: [UInt8] = []
  var v1 = false

  mutating func u8(_ v: UInt8) { data.append(v) }
  mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data += $0 } }
  mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }
  mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { data += $0 } }
  mutating func f32(_ v: Float) { u32(v.bitPattern) }
  mutating func count(_ n: UInt64) { if v1 { u32(UInt32(n)) } else { u64(n) } }
  mutating func raw(_ b: [UInt8]) { data += b }
  mutating func str(_ s: String) {
    count(UInt64(s.utf8.count))
    data += Array(s.utf8)
  }
  mutating func pad(_ a: Int) { while data.count % a != 0 { data.append(0) } }

  /// GGUF magic, version, tensor count, kv count.
  mutating func header(version: UInt32 = 3, tensors: UInt64, kv: UInt64) {
    v1 = version == 1
    raw(Array("GGUF".utf8))
    u32(version)
    count(tensors)
    count(kv)
  }
  /// A key/value pair of a scalar u32.
  mutating func kvU32(_ key: String, _ v: UInt32) {
    str(key)
    u32(4)
    u32(v)
  }
  mutating func kvString(_ key: String, _ v: String) {
    str(key)
    u32(8)
    str(v)
  }
  /// A tensor info entry.
  mutating func tensorInfo(_ name: String, type: UInt32 = 0, dims: [UInt64], offset: UInt64) {
    str(name)
    u32(UInt32(dims.count))
    for d in dims { count(d) }
    u32(type)
    u64(offset)
  }
}

/// Expects `GGUFFile(bytes:)` to fail with exactly `expected`.
func expectParseError(
  _ bytes: [UInt8], _ expected: GGUFError, sourceLocation: SourceLocation = #_sourceLocation
) {
  do {
    let f = try GGUFFile(bytes: bytes)
    Issue.record("parsed a bad file: \(f.tensors.count) tensors", sourceLocation: sourceLocation)
  } catch {
    #expect(error == expected, sourceLocation: sourceLocation)
  }
}

/// Expects a parse failure matching `predicate` (for errors whose exact fields are incidental).
func expectParseError(
  _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation,
  _ predicate: (GGUFError) -> Bool
) {
  do {
    _ = try GGUFFile(bytes: bytes)
    Issue.record("parsed a bad file", sourceLocation: sourceLocation)
  } catch {
    #expect(predicate(error), "unexpected error: \(error)", sourceLocation: sourceLocation)
  }
}
