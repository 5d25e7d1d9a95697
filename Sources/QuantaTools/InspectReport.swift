import Foundation
import GGUF
import QuantaFiles
import QuantaQuantize

/// What `quanta inspect` shows about a file: header, metadata, tensor table and per-type totals.
/// Built from the parsed header only; no tensor data are read.
public struct InspectReport: Sendable {
  public struct TypeTotal: Sendable, Equatable {
    public var type: GGMLType
    public var count: Int
    public var bytes: Int
    /// Share of all tensor bytes, 0...100.
    public var percent: Double
  }

  public let path: String
  public let format: GGUFFormat
  public let version: UInt32
  public let alignment: Int
  public let fileSize: Int
  public let dataOffset: Int
  public let metadata: GGUFMetadata
  public let tensors: [GGUFTensorInfo]
  public let typeTotals: [TypeTotal]
  public let totalTensorBytes: Int
  public let totalElements: Int

  public init(file: GGUFFile) {
    path = file.path
    format = file.format
    version = file.version
    alignment = file.alignment
    fileSize = file.fileSize
    dataOffset = file.dataOffset
    metadata = file.metadata
    tensors = file.tensors
    var byType: [GGMLType: (count: Int, bytes: Int)] = [:]
    var total = 0
    var elements = 0
    for t in file.tensors {
      byType[t.type, default: (0, 0)].count += 1
      byType[t.type, default: (0, 0)].bytes += t.byteCount
      total += t.byteCount
      elements += t.elementCount
    }
    totalTensorBytes = total
    totalElements = elements
    // Largest share first; ties by type id so the order is stable.
    typeTotals = byType.map { type, v in
      TypeTotal(
        type: type, count: v.count, bytes: v.bytes,
        percent: total == 0 ? 0 : Double(v.bytes) * 100 / Double(total))
    }.sorted { ($0.bytes, $1.type.rawValue) > ($1.bytes, $0.type.rawValue) }
  }

  /// Opens `path` and builds its report.
  public init(path: String) throws {
    try self.init(file: GGUFFile(path: path))
  }

  // MARK: - Text

  /// The human-readable report. Long arrays show their first `arrayItems` values, strings are cut
  /// at `stringLength` characters; `full` shows everything.
  public func text(full: Bool = false, arrayItems: Int = 3, stringLength: Int = 80) -> String {
    var out = ""
    func line(_ s: String = "") { out += s + "\n" }
    line("file:        \(path)")
    line("format:      \(format)")
    line("alignment:   \(alignment)")
    line("file size:   \(Format.bytes(fileSize)) (\(fileSize) bytes)")
    line("data offset: \(dataOffset)")
    line("metadata:    \(metadata.count) keys")
    line("tensors:     \(tensors.count), \(Format.bytes(totalTensorBytes)), \(totalElements) elements")
    line()

    line("metadata:")
    let keyWidth = min(48, metadata.entries.map { $0.key.count }.max() ?? 0)
    let limits = ValueSummary.Limits(
      arrayItems: full ? Int.max : arrayItems, stringLength: full ? Int.max : stringLength)
    for (key, value) in metadata.entries {
      let type = value.typeDescription
      line("  \(Format.pad(key, keyWidth))  \(Format.pad(type, 14))  \(ValueSummary.text(value, limits))")
    }
    line()

    line("tensors:")
    let rows = tensors.enumerated().map { i, t in
      ["\(i)", t.name, t.type.name, Format.shape(t.shape), "\(t.byteCount)", "\(t.offset)"]
    }
    out += Format.table(
      header: ["#", "name", "type", "shape", "bytes", "offset"], rows: rows,
      rightAligned: [0, 4, 5], indent: 2)
    line()

    line("totals by type:")
    let totalRows = typeTotals.map {
      [
        $0.type.name, "\($0.count)", "\($0.bytes)", Format.bytes($0.bytes),
        String(format: "%.2f%%", $0.percent),
      ]
    }
    out += Format.table(
      header: ["type", "tensors", "bytes", "size", "% of data"], rows: totalRows,
      rightAligned: [1, 2, 3, 4], indent: 2)
    return out
  }

  // MARK: - JSON

  /// One JSON document with a fixed set of keys (sorted) for scripts. Metadata is an ordered list
  /// of `{key, type, value}`; arrays hold their first `arrayItems` values unless `full`.
  public func jsonObject(full: Bool = false, arrayItems: Int = 16) -> [String: Any] {
    let limit = full ? Int.max : arrayItems
    let meta: [[String: Any]] = metadata.entries.map { key, value in
      var entry: [String: Any] = ["key": key, "type": value.typeDescription]
      if case .array(let a) = value {
        let values = JSONValues.array(a, limit: limit)
        entry["count"] = a.count
        entry["value"] = values
        entry["truncated"] = values.count < a.count
      } else {
        entry["value"] = JSONValues.scalar(value)
      }
      return entry
    }
    let tensorRows: [[String: Any]] = tensors.map {
      [
        "name": $0.name, "type": $0.type.name, "type_id": Int($0.type.rawValue), "shape": $0.shape,
        "elements": $0.elementCount, "bytes": $0.byteCount, "offset": $0.offset,
      ]
    }
    let totals: [[String: Any]] = typeTotals.map {
      ["type": $0.type.name, "count": $0.count, "bytes": $0.bytes, "percent": $0.percent]
    }
    return [
      "path": path,
      "format": Self.formatName(format),
      "version": Int(version),
      "alignment": alignment,
      "file_size": fileSize,
      "data_offset": dataOffset,
      "metadata_count": metadata.count,
      "tensor_count": tensors.count,
      "tensor_bytes": totalTensorBytes,
      "tensor_elements": totalElements,
      "metadata": meta,
      "tensors": tensorRows,
      "type_totals": totals,
    ]
  }

  public func json(full: Bool = false) throws -> String {
    let data = try JSONSerialization.data(
      withJSONObject: jsonObject(full: full), options: [.prettyPrinted, .sortedKeys])
    return String(decoding: data, as: UTF8.self)
  }

  static func formatName(_ format: GGUFFormat) -> String {
    switch format {
    case .gguf: "gguf"
    case .ggml: "ggml"
    case .ggmf: "ggmf"
    case .ggjt: "ggjt"
    }
  }
}

/// One-line summaries of metadata values.
enum ValueSummary {
  struct Limits {
    var arrayItems: Int
    var stringLength: Int
  }

  static func quoted(_ s: String, _ limit: Int) -> String {
    var body = s
    var cut = false
    if body.count > limit {
      body = String(body.prefix(limit))
      cut = true
    }
    // Escape control characters so one value stays on one line.
    var escaped = ""
    for scalar in body.unicodeScalars {
      switch scalar {
      case "\n": escaped += "\\n"
      case "\t": escaped += "\\t"
      case "\r": escaped += "\\r"
      case "\"": escaped += "\\\""
      case "\\": escaped += "\\\\"
      default:
        if scalar.value < 0x20 || scalar.value == 0x7f {
          escaped += "\\u{\(String(scalar.value, radix: 16))}"
        } else {
          escaped.unicodeScalars.append(scalar)
        }
      }
    }
    return "\"" + escaped + "\"" + (cut ? "… (\(s.count) chars)" : "")
  }

  static func text(_ value: GGUFValue, _ limits: Limits) -> String {
    switch value {
    case .string(let s): return quoted(s, limits.stringLength)
    case .array(let a):
      let shown: [String]
      let n = min(a.count, limits.arrayItems)
      switch a.elements {
      case .string(let xs): shown = xs.prefix(n).map { quoted($0, min(limits.stringLength, 40)) }
      case .float32(let xs): shown = xs.prefix(n).map { "\($0)" }
      case .float64(let xs): shown = xs.prefix(n).map { "\($0)" }
      case .bool(let xs): shown = xs.prefix(n).map { "\($0)" }
      default: shown = a.values.prefix(n).map { $0.description }
      }
      let more = a.count > n ? ", …" : ""
      return "[\(a.elementType) × \(a.count): \(shown.joined(separator: ", "))\(more)]"
    default: return value.description
    }
  }
}

/// Conversion of metadata values to JSONSerialization-safe objects (no NaN/Inf: JSON has none).
enum JSONValues {
  static func float(_ x: Double) -> Any {
    if x.isFinite { return x }
    return x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf")
  }

  static func scalar(_ value: GGUFValue) -> Any {
    switch value {
    case .uint8(let v): return Int(v)
    case .int8(let v): return Int(v)
    case .uint16(let v): return Int(v)
    case .int16(let v): return Int(v)
    case .uint32(let v): return Int(v)
    case .int32(let v): return Int(v)
    case .uint64(let v): return NSNumber(value: v)
    case .int64(let v): return NSNumber(value: v)
    case .float32(let v): return float(Double(v))
    case .float64(let v): return float(v)
    case .bool(let v): return v
    case .string(let v): return v
    case .array(let a): return array(a, limit: Int.max)
    }
  }

  static func array(_ a: GGUFArray, limit: Int) -> [Any] {
    let n = min(limit, a.count)
    switch a.elements {
    case .string(let xs): return Array(xs.prefix(n))
    case .float32(let xs): return xs.prefix(n).map { float(Double($0)) }
    case .int32(let xs): return xs.prefix(n).map { Int($0) }
    case .uint32(let xs): return xs.prefix(n).map { Int($0) }
    default: return a.values.prefix(n).map(scalar)
    }
  }
}
