import Foundation

/// Small text-formatting helpers shared by the tools (sizes, shapes, padded columns, tables).
public enum Format {
  /// "253.04 MiB"-style sizes.
  public static func bytes(_ n: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(n)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
      value /= 1024
      unit += 1
    }
    return unit == 0 ? "\(n) B" : String(format: "%.2f", value) + " " + units[unit]
  }

  /// Shape in ggml order (ne0 first), as llama.cpp prints it.
  public static func shape(_ shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ", ") + "]"
  }

  public static func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
  }

  public static func leftPad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
  }

  /// A plain-text table with columns sized to their widest cell.
  public static func table(header: [String], rows: [[String]], rightAligned: Set<Int>, indent: Int) -> String
  {
    var widths = header.map(\.count)
    for row in rows {
      for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
    }
    let prefix = String(repeating: " ", count: indent)
    func render(_ cells: [String]) -> String {
      let parts = cells.enumerated().map { i, c in
        rightAligned.contains(i) ? leftPad(c, widths[i]) : pad(c, widths[i])
      }
      var line = prefix + parts.joined(separator: "  ")
      while line.last == " " { line.removeLast() }
      return line + "\n"
    }
    var out = render(header)
    out += render(widths.map { String(repeating: "-", count: $0) })
    for row in rows { out += render(row) }
    return out
  }
}
