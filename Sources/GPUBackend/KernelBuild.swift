import Foundation
import GGML
import GPUKernels

/// The kernel source as one translation unit for a vendor and a wavefront width, and the list of
/// kernels it defines.
public enum KernelBuild {
  /// Quantized types the kernels serve (QTYPE_LIST in quants.cuh; a test checks they agree).
  public static let types: [GGMLType] = [
    .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs,
    .iq3_s, .iq1_s, .iq1_m, .iq4_nl, .iq4_xs, .tq1_0, .tq2_0, .mxfp4,
  ]
  /// Per-type kernel name prefixes (`<prefix><type>`).
  public static let perTypeOps =
    [
      "dequantize_block_%_f32", "dequantize_block_%_f16", "get_rows_%", "dequantize_mul_mat_vec_%",
    ] + GPUMatVec.perTypeKernels + GPUMatMat.perTypeKernels + GPUExperts.perTypeKernels
  /// Every extern "C" kernel in the source.
  public static var kernelNames: [String] {
    ["quantize_q8_1"]
      + types.flatMap { t in perTypeOps.map { $0.replacingOccurrences(of: "%", with: t.name) } }
      + denseKernelNames + GPUPlanGeometry.kernels
      + GPUMatMat.matrixCoreKernelNames + GPUMatMat.SmallBatch.kernelNames + GPUMatVec.dotKernelNames
      + GPUExperts.kernels
      + GPUExperts.dotKernelNames
  }

  /// The physical wavefront width of an architecture, for ahead-of-time builds (a device's own
  /// figure is read from the device). GCN/CDNA (gfx6–gfx9) run 64 wide; RDNA (gfx10+) 32 under HIP;
  /// NVIDIA 32.
  public static func warpSize(forArchitecture arch: String) -> Int? {
    if arch.hasPrefix("sm_") { return 32 }
    guard arch.hasPrefix("gfx") else { return nil }
    let digits = arch.dropFirst(3).prefix { $0.isHexDigit }
    guard digits.count >= 3 else { return nil }
    let major = digits.dropLast(2)
    guard let m = Int(major) else { return nil }
    return m <= 9 ? 64 : 32
  }

  public static func vendor(forArchitecture arch: String) -> GPUVendor? {
    arch.hasPrefix("sm_") ? .cuda : arch.hasPrefix("gfx") ? .hip : nil
  }

  /// Whether a dependent launch lets the next kernel launch once every CTA has started
  /// (QK_DEPENDENT_LAUNCH_EARLY), or only as the CTAs exit.
  static let dependentLaunchEarly = true

  /// Vendor prelude + the host's defines + the common dialect. `dependentLaunch`: the kernels wait for
  /// their predecessor themselves (prelude_cuda.cuh's qk_grid_dependency_sync), for launches with
  /// programmatic stream serialization; without it the source has no such wait at all.
  public static func source(vendor: GPUVendor, warpSize: Int, dependentLaunch: Bool = false) -> String {
    let prelude = KernelSources.files[KernelSources.preludes[vendor == .cuda ? "cuda" : "hip"]!]!
    var text =
      dependentLaunch
      ? "#define QK_DEPENDENT_LAUNCH 1\n#define QK_DEPENDENT_LAUNCH_EARLY \(dependentLaunchEarly ? 1 : 0)\n"
      : ""
    text += prelude + "\n#define QK_WARP_SIZE \(warpSize)\n"
    text += GPUMatMat.sourceDefines  // mat-mat tile geometry (GPUMatMat.swift owns it)
    text += GPUMatVec.sourceDefines  // mat-vec geometry (GPUMatVec.swift owns it)
    for name in KernelSources.commonOrder {
      text +=
        "\n// ---- \(name)\n"
        + (name == KernelSources.tablesPart ? iqTablesSource : KernelSources.files[name]!)
    }
    return text
  }

  /// The i-quant / IQ4 / MXFP4 lookup tables as `__constant__` arrays under ggml's names, printed from
  /// the C arrays the CPU kernels and the Swift codecs read (GGMLBlocks' iq_tables.c, the one copy).
  static let iqTablesSource: String = {
    var lines = [
      "// i-quant, IQ4 and MXFP4 tables: printed by KernelBuild from GGMLBlocks' iq_tables.c.", "",
    ]
    for table in IQTable.all {
      let type = (table.isSigned ? "s" : "u") + String(table.bits)
      let suffix = table.bits == 64 ? "ull" : table.bits == 32 ? "u" : ""
      lines.append("// \(table.doc)")
      lines.append("static __constant__ \(type) \(table.name)[\(table.values.count)] = {")
      let perLine = table.bits == 64 ? 4 : table.bits == 32 ? 8 : 16
      for start in stride(from: 0, to: table.values.count, by: perLine) {
        let cells = table.values[start..<min(start + perLine, table.values.count)].map { v -> String in
          guard table.hexDigits > 0 else { return String(v) }
          let hex = String(UInt64(bitPattern: v), radix: 16)
          return "0x" + String(repeating: "0", count: max(0, table.hexDigits - hex.count)) + hex + suffix
        }
        lines.append("  " + cells.joined(separator: ", ") + ",")
      }
      lines.append("};")
      lines.append("")
    }
    return lines.joined(separator: "\n")
  }()

  /// Compiler options besides the target.
  public static func options(vendor: GPUVendor) -> [String] {
    vendor == .hip ? ["-O3"] : ["--std=c++17"]
  }
}

/// Code objects on disk, keyed by sha256(vendor, source, architecture, options)
/// (DESIGN.md principle 5). Directory: the one passed in, else ~/.cache/quanta/kernels (the `quanta`
/// CLI passes $QUANTA_CACHE/kernels when QUANTA_CACHE is set; the library reads no environment).
public struct KernelCache: Sendable {
  public let directory: URL

  /// The cache in `directory`, or in `defaultDirectory` when nil.
  public init(directory: URL? = nil) {
    self.directory = directory ?? Self.defaultDirectory
  }

  /// ~/.cache/quanta/kernels.
  public static var defaultDirectory: URL {
    FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/quanta/kernels")
  }

  public static func key(vendor: GPUVendor, source: String, architecture: String, options: [String]) -> String
  {
    let material = [vendor.rawValue, architecture, options.joined(separator: "\u{1}"), source].joined(
      separator: "\u{0}")
    return SHA256.hex(Array(material.utf8))
  }

  public func url(vendor: GPUVendor, architecture: String, key: String) -> URL {
    let safeArch = architecture.replacingOccurrences(of: ":", with: "_")
    return directory.appendingPathComponent(
      "\(vendor.rawValue)-\(safeArch)-\(key).\(vendor == .cuda ? "cubin" : "hsaco")")
  }

  public func load(vendor: GPUVendor, architecture: String, key: String) -> CodeObject? {
    guard let data = try? Data(contentsOf: url(vendor: vendor, architecture: architecture, key: key)),
      !data.isEmpty
    else { return nil }
    return CodeObject(architecture: architecture, bytes: [UInt8](data))
  }

  /// Writes through a temporary file and a rename, so a reader never sees half a code object.
  public func store(_ code: CodeObject, vendor: GPUVendor, key: String) throws(GPUError) {
    let dest = url(vendor: vendor, architecture: code.architecture, key: key)
    do {
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
      let tmp = directory.appendingPathComponent(
        ".\(dest.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
      try Data(code.bytes).write(to: tmp)
      if FileManager.default.fileExists(atPath: dest.path) { try FileManager.default.removeItem(at: dest) }
      try FileManager.default.moveItem(at: tmp, to: dest)
    } catch {
      throw .cacheIO(path: dest.path, reason: "\(error)")
    }
  }
}

/// Compiles (or fetches from the cache) the whole kernel source for one target.
public struct KernelCompiler: Sendable {
  public let api: any VendorAPI
  public let cache: KernelCache

  public init(api: any VendorAPI, cache: KernelCache = KernelCache()) {
    self.api = api
    self.cache = cache
  }

  public struct Result: Sendable {
    public var code: CodeObject
    public var key: String
    public var fromCache: Bool
  }

  public func codeObject(
    architecture: String, warpSize: Int, dependentLaunch: Bool = false, useCache: Bool = true
  ) throws(GPUError) -> Result {
    let source = KernelBuild.source(vendor: api.vendor, warpSize: warpSize, dependentLaunch: dependentLaunch)
    let options = KernelBuild.options(vendor: api.vendor)
    let key = KernelCache.key(
      vendor: api.vendor, source: source, architecture: architecture, options: options)
    if useCache, let code = cache.load(vendor: api.vendor, architecture: architecture, key: key) {
      return Result(code: code, key: key, fromCache: true)
    }
    let code = try api.compile(
      source: source, name: "quanta_kernels.cu", architecture: architecture, options: options)
    if useCache { try cache.store(code, vendor: api.vendor, key: key) }
    return Result(code: code, key: key, fromCache: false)
  }
}
