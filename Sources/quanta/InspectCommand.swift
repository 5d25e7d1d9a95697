import ArgumentParser
import QuantaTools

/// `quanta inspect FILE [--json] [--full]`: header, metadata, tensor table and per-type totals.
/// Reads only the header and tables, never tensor data.
struct Inspect: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Show a GGUF (or legacy GGML/GGJT) file's header, metadata and tensors.")

  @Argument(help: "The model file.")
  var file: String

  @Flag(help: "Print one JSON document instead of text.")
  var json = false

  @Flag(help: "Do not shorten long strings and arrays.")
  var full = false

  func run() throws {
    let report = try InspectReport(path: file)
    if json {
      print(try report.json(full: full))
    } else {
      print(report.text(full: full), terminator: "")
    }
  }
}
