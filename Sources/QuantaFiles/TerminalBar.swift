import Foundation

/// The pieces every progress display of the CLI shares (quantize, model download): the bar, the
/// clock format, and the escape that redraws a line in place.
public enum TerminalBar {
  /// Carriage return + erase line: the next write replaces the bar.
  public static let eraseLine = "\r\u{1B}[2K"

  /// `##########..........` for `fraction` (clamped to 0...1) over `width` cells.
  public static func bar(_ fraction: Double, width: Int = 30) -> String {
    let filled = Int(min(1, max(0, fraction)) * Double(width))
    return String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
  }

  /// `m:ss`, or `h:mm:ss` from an hour on.
  public static func clock(_ seconds: Double) -> String {
    let s = max(0, Int(seconds.rounded()))
    return s >= 3600
      ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
      : String(format: "%d:%02d", s / 60, s % 60)
  }
}

/// A redrawn one-line progress display over a byte count, the state both CLI displays (quantize,
/// download) keep: `[##########..........]  52.3%  132.4/253.1 MiB[  18.2 MiB/s]  ETA 0:07  label`.
/// Not synchronized: its owner serializes the calls.
public struct ByteProgressLine {
  /// Bytes to do and done.
  public var total = 0
  public var done = 0
  private let write: @Sendable (String) -> Void
  private let now: @Sendable () -> Double
  private let showSpeed: Bool
  private var started = 0.0
  private var lastDraw = -1.0
  private var shown = false

  public init(
    showSpeed: Bool, write: @escaping @Sendable (String) -> Void, now: @escaping @Sendable () -> Double
  ) {
    self.showSpeed = showSpeed
    self.write = write
    self.now = now
  }

  /// Starts the clock over `total` bytes.
  public mutating func start(total: Int) {
    self.total = total
    done = 0
    started = now()
  }

  /// Seconds since `start`.
  public var elapsed: Double { now() - started }

  /// Redraws the line, at most 10 times a second unless `force`.
  public mutating func draw(label: String, force: Bool) {
    let t = now()
    guard force || t - lastDraw >= 0.1 else { return }
    lastDraw = t
    let fraction = total == 0 ? 1 : min(1, max(0, Double(done) / Double(total)))
    let elapsed = t - started
    let speed = elapsed > 0 ? Double(done) / elapsed : 0
    let eta =
      speed > 0 && elapsed > 0.5 && total > done ? TerminalBar.clock(Double(total - done) / speed) : "--:--"
    var numbers = String(
      format: "%5.1f%%  %.1f/%.1f MiB", fraction * 100, Double(done) / 1_048_576, Double(total) / 1_048_576)
    if showSpeed { numbers += String(format: "  %.1f MiB/s", speed / 1_048_576) }
    write(TerminalBar.eraseLine + "[\(TerminalBar.bar(fraction))] \(numbers)  ETA \(eta)  \(label)")
    shown = true
  }

  /// Erases the line if it is on screen, so the next text starts clean.
  public mutating func clear() {
    if shown {
      write(TerminalBar.eraseLine)
      shown = false
    }
  }
}
