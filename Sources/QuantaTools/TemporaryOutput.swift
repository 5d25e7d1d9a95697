import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// A temporary output file beside its final path (`.NAME.tmp-<pid>`), removed on failure and on
/// SIGINT/SIGTERM, renamed onto the final path only by `commit()`.
public final class TemporaryOutput: @unchecked Sendable {
  // @unchecked: `committed` is touched only by the thread that runs the quantization; the path
  // the signal handler reads is a C string published before the handlers are installed.
  public let finalPath: String
  public let temporaryPath: String
  private var committed = false

  public init(finalPath: String) {
    self.finalPath = finalPath
    let url = URL(fileURLWithPath: finalPath)
    let dir = url.deletingLastPathComponent().path
    temporaryPath = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())"
    SignalCleanup.register(temporaryPath)
  }

  /// Makes the written bytes durable, then atomically renames the file onto the final path.
  public func commit() throws {
    let fd = open(temporaryPath, O_RDONLY | O_CLOEXEC)
    if fd >= 0 {
      _ = fsync(fd)
      close(fd)
    }
    guard rename(temporaryPath, finalPath) == 0 else {
      throw QuantaToolError.io(path: finalPath, operation: "rename \(temporaryPath) to", errno: errno)
    }
    committed = true
    SignalCleanup.unregister()
  }

  /// Removes the temporary file if it was not committed. Safe to call more than once.
  public func discard() {
    if !committed { unlink(temporaryPath) }
    SignalCleanup.unregister()
  }

  deinit { discard() }
}

/// The process-wide SIGINT/SIGTERM handlers that unlink the temporary file of the one quantization
/// in progress, then re-raise the signal with its default action (so the exit status says so).
enum SignalCleanup {
  // The handler may only use async-signal-safe calls, so it reads a plain C string.
  // nonisolated(unsafe): written under `lock` while no handler can be mid-read of the old value
  // (the old buffer is leaked deliberately rather than freed under a handler).
  nonisolated(unsafe) static var pathForHandler: UnsafeMutablePointer<CChar>?
  private static let lock = NSLock()

  static func register(_ path: String) {
    lock.lock()
    defer { lock.unlock() }
    pathForHandler = strdup(path)
    install(SIGINT)
    install(SIGTERM)
  }

  static func unregister() {
    lock.lock()
    defer { lock.unlock() }
    pathForHandler = nil
  }

  private static func install(_ sig: Int32) {
    #if canImport(Darwin)
      signal(sig, cleanupHandler)
    #else
      _ = signal(sig, cleanupHandler)
    #endif
  }
}

/// The C signal handler (no captures: a plain function pointer).
private func cleanupHandler(_ sig: Int32) {
  if let path = SignalCleanup.pathForHandler { unlink(path) }
  signal(sig, SIG_DFL)
  raise(sig)
}
