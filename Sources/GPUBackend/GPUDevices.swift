import Foundation
import QuantaCore

/// What a probe found for one vendor: its devices, or why there are none.
public struct GPUVendorReport: Sendable {
  public var vendor: GPUVendor
  /// Runtime versions and library paths, when the libraries loaded.
  public var runtime: String?
  public var devices: [GPUDeviceProperties]
  /// Why this vendor offers no device (library missing, no device, driver error), else nil.
  public var unavailable: GPUError?
  /// RELIABILITY.md B10: HSA_OVERRIDE_GFX_VERSION (and the visible-devices variable) as set.
  public var environmentNotes: [String]
}

/// Capabilities of a GPU architecture: dp4a-class int8 dot instructions and matrix cores.
public enum GPUArchitecture {
  public static func capabilities(architecture arch: String) -> Set<DeviceCapability> {
    var caps: Set<DeviceCapability> = [.fp16]
    if arch.hasPrefix("sm_"), let cc = Int(arch.dropFirst(3)) {
      if cc >= 61 { caps.insert(.dp4a) }
      if cc >= 70 { caps.insert(.matrixCores) }
      if cc >= 80 { caps.insert(.bf16) }
    } else if arch.hasPrefix("gfx") {
      let base = String(arch.split(separator: ":").first ?? "")
      let dot4: Set<String> = ["gfx906", "gfx908", "gfx90a", "gfx940", "gfx941", "gfx942", "gfx950"]
      if dot4.contains(base) || base.hasPrefix("gfx103") || base.hasPrefix("gfx11") || base.hasPrefix("gfx12")
      {
        caps.insert(.dp4a)
      }
      // MFMA on CDNA, WMMA on RDNA3+.
      if ["gfx908", "gfx90a", "gfx940", "gfx941", "gfx942", "gfx950"].contains(base)
        || base.hasPrefix("gfx11")
        || base.hasPrefix("gfx12")
      {
        caps.insert(.matrixCores)
      }
      if base.hasPrefix("gfx90a") || base.hasPrefix("gfx94") || base.hasPrefix("gfx11")
        || base.hasPrefix("gfx12")
      {
        caps.insert(.bf16)
      }
    }
    return caps
  }
}

/// Paths of vendor libraries that replace the built-in search (DESIGN.md principle 7: passed in; the
/// `quanta` CLI fills them from QUANTA_CUDA_LIB, QUANTA_NVRTC_LIB, QUANTA_HIP_LIB and
/// QUANTA_HIPRTC_LIB). nil: search the usual names and directories.
public struct GPULibraryPaths: Sendable, Equatable {
  /// The CUDA driver library (libcuda.so.1).
  public var cudaDriver: String?
  /// NVRTC, the CUDA run-time compiler.
  public var nvrtc: String?
  /// The HIP runtime (libamdhip64).
  public var hipRuntime: String?
  /// hiprtc, the HIP run-time compiler (when set, no fallback to the runtime library's own hiprtc).
  public var hiprtc: String?

  public init(
    cudaDriver: String? = nil, nvrtc: String? = nil, hipRuntime: String? = nil, hiprtc: String? = nil
  ) {
    self.cudaDriver = cudaDriver
    self.nvrtc = nvrtc
    self.hipRuntime = hipRuntime
    self.hiprtc = hiprtc
  }
}

/// Lists every GPU Quanta can reach, per vendor, with the reason a vendor has none.
public enum GPUDevices {
  /// Loads a vendor's libraries (typed error when missing); `libraries` overrides the search.
  public static func loadAPI(_ vendor: GPUVendor, libraries: GPULibraryPaths = .init()) throws(GPUError)
    -> any VendorAPI
  {
    switch vendor {
    case .cuda: return try CUDAVendorAPI(libraries: libraries)
    case .hip: return try HIPVendorAPI(libraries: libraries)
    }
  }

  public static func environmentNotes(_ vendor: GPUVendor) -> [String] {
    var notes: [String] = []
    if let v = environment(vendor.visibleDevicesVariable) {
      notes.append("\(vendor.visibleDevicesVariable)=\(v)")
    }
    if vendor == .hip {
      if let v = environment("HSA_OVERRIDE_GFX_VERSION") {
        notes.append("HSA_OVERRIDE_GFX_VERSION=\(v) (the runtime reports an overridden gfx target)")
      }
      if let v = environment("ROCR_VISIBLE_DEVICES") { notes.append("ROCR_VISIBLE_DEVICES=\(v)") }
    }
    return notes
  }

  public static func probe(_ vendor: GPUVendor, libraries: GPULibraryPaths = .init()) -> GPUVendorReport {
    var report = GPUVendorReport(
      vendor: vendor, runtime: nil, devices: [], unavailable: nil, environmentNotes: environmentNotes(vendor))
    do {
      let api = try loadAPI(vendor, libraries: libraries)
      report.runtime = api.versionDescription
      let n = try api.deviceCount()
      if n == 0 {
        report.unavailable = .noDevice(
          vendor: vendor, reason: "the runtime loaded and reports 0 devices",
          visibleDevices: environment(vendor.visibleDevicesVariable))
      }
      for i in 0..<n { report.devices.append(try api.properties(device: i)) }
    } catch {
      report.unavailable = error
    }
    return report
  }

  public static func probeAll(libraries: GPULibraryPaths = .init()) -> [GPUVendorReport] {
    GPUVendor.allCases.map { probe($0, libraries: libraries) }
  }

  /// `quanta devices` text for the GPU vendors.
  public static func describe(_ report: GPUVendorReport) -> [String] {
    var lines: [String] = []
    let kind = report.vendor.deviceKind
    for d in report.devices {
      let caps = GPUArchitecture.capabilities(architecture: d.architecture).map(\.rawValue).sorted().joined(
        separator: ",")
      let gib = Double(d.totalMemory) / 1_073_741_824
      lines.append(
        "\(kind):\(d.index)  \(d.name)  arch \(d.targetID)  \(String(format: "%.1f", gib)) GiB  "
          + "\(d.multiprocessors) CUs  warp \(d.warpSize)  [\(caps)]")
    }
    if let why = report.unavailable { lines.append("\(kind): unavailable: \(why)") }
    if let rt = report.runtime { lines.append("  \(report.vendor) runtime: \(rt)") }
    for n in report.environmentNotes { lines.append("  note: \(n)") }
    return lines
  }
}
