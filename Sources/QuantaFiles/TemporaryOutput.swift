import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// A temporary output file beside its final path (`.NAME.tmp-<pid>`), removed on failure and on
/// SIGINT, SIGTERM, SIGHUP, SIGPIPE and SIGBUS, renamed onto the final path only by `commit()`.
/// Creating one first removes the `.NAME.tmp-<pid>` files of processes that are gone (a SIGKILL or a
/// power cut leaves them).
public final class TemporaryOutput: @unchecked Sendable {
  // @unchecked: `committed` is touched only by the thread that writes the file; the signal handlers
  // read the path from `SignalCleanup`'s table, not from here.
  public let finalPath: String
  public let temporaryPath: String
  private var committed = false
  private let slot: Int?

  public init(finalPath: String) {
    self.finalPath = finalPath
    let url = URL(fileURLWithPath: finalPath)
    let dir = url.deletingLastPathComponent().path
    TemporaryOutput.removeStale(folder: dir, prefix: "." + url.lastPathComponent + ".tmp-")
    temporaryPath = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())"
    slot = SignalCleanup.register(temporaryPath)
  }

  /// Makes the written bytes durable, then atomically renames the file onto the final path.
  public func commit() throws {
    let fd = open(temporaryPath, O_RDONLY | O_CLOEXEC)
    if fd >= 0 {
      _ = fsync(fd)
      close(fd)
    }
    guard rename(temporaryPath, finalPath) == 0 else {
      throw FileError.io(path: finalPath, operation: "rename \(temporaryPath) to", errno: errno)
    }
    committed = true
    SignalCleanup.unregister(slot)
  }

  /// Removes the temporary file if it was not committed. Safe to call more than once.
  public func discard() {
    if !committed { unlink(temporaryPath) }
    SignalCleanup.unregister(slot)
  }

  deinit { discard() }

  /// Removes the files `PREFIX<pid>` in `folder` whose process no longer exists. A live process's
  /// file is left alone (another quantize or download to the same place may be running); a pid
  /// reused since by an unrelated process keeps its file until that process is gone too.
  public static func removeStale(folder: String, prefix: String) {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
    for name in names where name.hasPrefix(prefix) {
      guard let pid = Int32(name.dropFirst(prefix.count)), pid > 0, pid != getpid() else { continue }
      if kill(pid, 0) != 0 && errno == ESRCH { unlink(folder + "/" + name) }
    }
  }
}

/// Process-wide cleanup of temporary files when a signal ends the process.
///
/// SIGINT, SIGTERM, SIGHUP and SIGPIPE (a closed pipe: `quanta quantize … | head -1`) unlink every
/// registered temporary file, then end the process with the signal's default action, so the exit
/// status says which signal it was. The handlers are installed while a file is registered and only
/// where the signal still has its default action (a host application's own handler, or an ignored
/// SIGPIPE in a server, is left as it was); the default comes back when the last file goes.
///
/// SIGBUS (a memory-mapped model truncated underneath: `FatalSignals`) removes the files too.
public enum SignalCleanup {
  /// Most temporary files alive at once (a download has its model and one wheel).
  static let capacity = 8
  static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGPIPE]

  /// The paths the handlers unlink: C strings read by a handler, so only async-signal-safe reads.
  /// nonisolated(unsafe): slots are written under `lock`; a replaced string is leaked, never freed,
  /// so a handler running concurrently reads either the old or the new pointer, both valid.
  nonisolated(unsafe) public static let paths: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = {
    let p = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: capacity)
    p.initialize(repeating: nil, count: capacity)
    return p
  }()
  private static let lock = NSLock()
  /// Signals whose handler we installed (to put the default back).
  nonisolated(unsafe) private static var installed: Set<Int32> = []

  /// Adds `path`; nil when the table is full (the file is then only removed by `discard`).
  public static func register(_ path: String) -> Int? {
    lock.lock()
    defer { lock.unlock() }
    _ = paths  // initialized before any handler can read it
    guard let slot = (0..<capacity).first(where: { paths[$0] == nil }) else { return nil }
    paths[slot] = strdup(path)
    for sig in signals where !installed.contains(sig) {
      var current = sigaction()
      guard sigaction(sig, nil, &current) == 0, current.handlerIsDefault else { continue }
      var action = sigaction()
      action.setHandler(cleanupHandler)
      sigemptyset(&action.sa_mask)
      if sigaction(sig, &action, nil) == 0 { installed.insert(sig) }
    }
    return slot
  }

  public static func unregister(_ slot: Int?) {
    lock.lock()
    defer { lock.unlock() }
    guard let slot, paths[slot] != nil else { return }
    paths[slot] = nil  // the string is leaked (see `paths`)
    guard (0..<capacity).allSatisfy({ paths[$0] == nil }) else { return }
    for sig in installed {
      // Only our own handler is taken back (the host may have set its own since).
      var current = sigaction()
      guard sigaction(sig, nil, &current) == 0, current.isHandler(cleanupHandler) else { continue }
      var action = sigaction()
      action.setDefault()
      sigemptyset(&action.sa_mask)
      sigaction(sig, &action, nil)
    }
    installed.removeAll()
  }

  /// Unlinks every registered file. Async-signal-safe (unlink only).
  public static func unlinkAll() {
    for i in 0..<capacity {
      if let p = paths[i] { unlink(p) }
    }
  }
}

/// The C signal handler (no captures: a plain function pointer).
private func cleanupHandler(_ sig: Int32) {
  SignalCleanup.unlinkAll()
  signal(sig, SIG_DFL)
  raise(sig)  // blocked while this handler runs: delivered, with the default action, on return
}

extension sigaction {
  /// Whether this disposition is SIG_DFL.
  var handlerIsDefault: Bool {
    #if canImport(Darwin)
      return __sigaction_u.__sa_handler == nil
    #else
      return __sigaction_handler.sa_handler == nil
    #endif
  }

  /// Whether this disposition runs `handler`.
  func isHandler(_ handler: @convention(c) (Int32) -> Void) -> Bool {
    #if canImport(Darwin)
      let current = __sigaction_u.__sa_handler
    #else
      let current = __sigaction_handler.sa_handler
    #endif
    return current.map { unsafeBitCast($0, to: Int.self) == unsafeBitCast(handler, to: Int.self) } ?? false
  }

  mutating func setHandler(_ handler: @convention(c) (Int32) -> Void) {
    #if canImport(Darwin)
      __sigaction_u.__sa_handler = handler
    #else
      __sigaction_handler.sa_handler = handler
    #endif
    sa_flags = 0
  }

  mutating func setDefault() {
    #if canImport(Darwin)
      __sigaction_u.__sa_handler = nil
    #else
      __sigaction_handler.sa_handler = nil
    #endif
    sa_flags = 0
  }
}

/// A file operation that failed, with the C library's errno.
public enum FileError: Error, Equatable, Sendable, CustomStringConvertible {
  case io(path: String, operation: String, errno: Int32)

  public var description: String {
    switch self {
    case .io(let path, let operation, let code):
      return "\(operation) \(path): \(String(cString: strerror(code)))"
    }
  }
}
