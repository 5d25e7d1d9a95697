import Foundation
import QuantaFiles

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Renders `QuantizeEvent`s: a redrawn bar with ETA on a terminal, one line per tensor otherwise
/// (the shape of llama-quantize's log). Warnings always get their own line.
public final class ProgressReporter: @unchecked Sendable {
  // @unchecked: all mutable state is touched under `lock`; events arrive from worker threads.
  public enum Style: Sendable { case bar, lines, silent }

  private let lock = NSLock()
  private let style: Style
  private let write: @Sendable (String) -> Void
  private var line: ByteProgressLine
  private var current = ""

  /// - Parameters:
  ///   - style: nil picks `.bar` when stderr is a terminal, `.lines` otherwise.
  ///   - write: where text goes (stderr by default).
  public init(
    style: Style? = nil,
    write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) },
    now: @escaping @Sendable () -> Double = { Date().timeIntervalSinceReferenceDate }
  ) {
    self.style = style ?? (isatty(STDERR_FILENO) != 0 ? .bar : .lines)
    self.write = write
    line = ByteProgressLine(showSpeed: false, write: write, now: now)
  }

  public func handle(_ event: QuantizeEvent) {
    guard style != .silent else { return }
    lock.lock()
    defer { lock.unlock() }
    switch event {
    case .planned(_, let bytes):
      line.start(total: bytes)
    case .warning(let text):
      line.clear()
      write("warning: \(text)\n")
    case .tensorStarted(_, _, let tensor, _, _):
      current = tensor.name
      if style == .bar { line.draw(label: current, force: true) }
    case .advanced(let bytes):
      line.done += bytes
      if style == .bar { line.draw(label: current, force: false) }
    case .tensorFinished(let index, let count, let t, let source, let target):
      if style == .lines {
        let width = String(count).count
        let idx = String(repeating: " ", count: max(0, width - String(index + 1).count)) + "\(index + 1)"
        let size =
          t.isConverted
          ? String(
            format: "size = %8.2f MiB -> %8.2f MiB", Double(source) / 1048576, Double(target) / 1048576)
          : String(format: "size = %8.3f MiB", Double(source) / 1048576)
        let conversion = t.isConverted ? ", converting to \(t.targetType)" : ""
        write(
          "[\(idx)/\(count)] \(Format.pad(t.name, 36)) - \(Format.shape(t.shape)), type = \(t.sourceType)\(conversion) .. \(size)\n"
        )
      }
    case .verifying(let path):
      line.clear()
      write("verifying \(path)\n")
    }
  }

  /// Call once at the end: leaves the terminal on a fresh line.
  public func finish() {
    lock.lock()
    defer { lock.unlock() }
    line.clear()
  }

}
