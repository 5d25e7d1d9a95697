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
  private let now: @Sendable () -> Double
  private var total = 0
  private var done = 0
  private var started = 0.0
  private var lastDraw = -1.0
  private var current = ""
  private var barShown = false

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
    self.now = now
  }

  public func handle(_ event: QuantizeEvent) {
    guard style != .silent else { return }
    lock.lock()
    defer { lock.unlock() }
    switch event {
    case .planned(_, let bytes):
      total = bytes
      started = now()
    case .warning(let text):
      clearBar()
      write("warning: \(text)\n")
    case .tensorStarted(_, _, let tensor, _, _):
      current = tensor.name
      if style == .bar { draw(force: true) }
    case .advanced(let bytes):
      done += bytes
      if style == .bar { draw(force: false) }
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
      clearBar()
      write("verifying \(path)\n")
    }
  }

  /// `[#######.............]  35.2%  88.1/250.0 MiB  ETA 0:12  blk.3.ffn_down.weight`
  private func draw(force: Bool) {
    let t = now()
    guard force || t - lastDraw >= 0.1 else { return }  // 10 redraws a second are plenty
    lastDraw = t
    let fraction = total == 0 ? 1 : min(1, Double(done) / Double(total))
    let bar = TerminalBar.bar(fraction)
    let elapsed = t - started
    let eta = fraction > 0.001 && elapsed > 0.5 ? TerminalBar.clock(elapsed / fraction - elapsed) : "--:--"
    let numbers = String(
      format: "%5.1f%%  %.1f/%.1f MiB", fraction * 100, Double(done) / 1048576, Double(total) / 1048576)
    let line = "[\(bar)] \(numbers)  ETA \(eta)  \(current)"
    write(TerminalBar.eraseLine + line)
    barShown = true
  }

  private func clearBar() {
    if barShown {
      write(TerminalBar.eraseLine)
      barShown = false
    }
  }

  /// Call once at the end: leaves the terminal on a fresh line.
  public func finish() {
    lock.lock()
    defer { lock.unlock() }
    clearBar()
  }

}
