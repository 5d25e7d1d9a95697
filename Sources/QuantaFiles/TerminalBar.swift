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
