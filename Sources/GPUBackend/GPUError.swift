import QuantaCore

/// Which CUDA-family vendor stack a backend runs on. ROCm is its own vendor, never "CUDA in
/// disguise" (DESIGN.md principle 2); both share the host code over `VendorAPI`.
public enum GPUVendor: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
  case cuda, hip
  public var description: String { self == .cuda ? "CUDA" : "HIP/ROCm" }
  /// The device kind this vendor serves.
  public var deviceKind: DeviceKind { self == .cuda ? .cuda : .rocm }
  /// The environment variable that hides devices from the vendor runtime.
  public var visibleDevicesVariable: String { self == .cuda ? "CUDA_VISIBLE_DEVICES" : "HIP_VISIBLE_DEVICES" }
}

/// Every GPU fault of RELIABILITY.md B as a typed error carrying its facts. Never a trap, never a
/// silent CPU fallback.
public enum GPUError: Error, Sendable, Equatable, CustomStringConvertible {
  /// B1: a runtime library could not be loaded: every name tried and the loader's messages.
  case libraryNotFound(library: String, searched: [String], loaderMessages: [String])
  /// A loaded library lacks a function Quanta calls (too old, or not the library we think).
  case missingSymbol(library: String, path: String, symbol: String)
  /// B2: the runtime loaded but reports no device (`reason` names the call and its result).
  case noDevice(vendor: GPUVendor, reason: String, visibleDevices: String?)
  /// B2: an index past the devices the runtime shows (hidden ones included in the message).
  case deviceIndexOutOfRange(vendor: GPUVendor, index: Int, count: Int, visibleDevices: String?)
  /// B3: the driver is older than the kernels need.
  case driverTooOld(vendor: GPUVendor, version: Int, required: Int)
  /// B4: no code for this device's architecture: neither built ahead of time nor compilable by the
  /// loaded runtime compiler. `available` lists the targets that are.
  case noCodeForArchitecture(vendor: GPUVendor, architecture: String, available: [String], detail: String)
  /// B5/B6: device memory exhausted; the backend stays usable.
  case outOfMemory(vendor: GPUVendor, device: Int, requestedBytes: Int, freeBytes: Int?)
  /// B7: the runtime compiler rejected a kernel source; `log` is its output.
  case compileFailed(vendor: GPUVendor, architecture: String, options: [String], log: String)
  /// B8: a sticky fault (illegal address, device lost): this context is unusable from now on.
  case contextUnusable(vendor: GPUVendor, device: Int, firstError: String)
  /// B9: an op or type this device or backend does not support.
  case unsupported(op: String, type: String, device: String)
  /// Any other failing API call: the call, the code and the vendor's name and text for it.
  case apiCall(vendor: GPUVendor, call: String, code: Int32, name: String, message: String)
  /// A kernel the module does not contain (a mismatch between host and kernel source).
  case missingKernel(name: String, architecture: String)
  /// A cached code object could not be read or written.
  case cacheIO(path: String, reason: String)

  public var description: String {
    switch self {
    case .libraryNotFound(let lib, let searched, let messages):
      return Self.notFoundText(library: lib, searched: searched, loaderMessages: messages)
    case .missingSymbol(let lib, let path, let sym): return "\(lib) (\(path)) has no symbol \(sym)"
    case .noDevice(let v, let reason, let visible):
      let name = v == .hip ? "no AMD device" : "no NVIDIA device"
      return "\(name): \(reason)" + (visible.map { " (\(v.visibleDevicesVariable)=\($0))" } ?? "")
    case .deviceIndexOutOfRange(let v, let i, let n, let visible):
      return "\(v) device \(i) out of range: \(n) visible"
        + (visible.map { " (\(v.visibleDevicesVariable)=\($0))" } ?? "")
    case .driverTooOld(let v, let have, let need):
      return "\(v) driver version \(have) is older than the \(need) required"
    case .noCodeForArchitecture(let v, let arch, let available, let detail):
      return "no \(v) code for \(arch): \(detail); targets available: \(available.joined(separator: ", "))"
    case .outOfMemory(let v, let d, let req, let free):
      return "\(v) device \(d) out of memory: \(req) bytes requested" + (free.map { ", \($0) free" } ?? "")
    case .compileFailed(let v, let arch, let opts, let log):
      return "\(v) kernel compile for \(arch) failed (options \(opts.joined(separator: " "))):\n\(log)"
    case .contextUnusable(let v, let d, let first):
      return "\(v) device \(d) is unusable after a sticky error: \(first)"
    case .unsupported(let op, let type, let device): return "\(op) on \(type) is not supported on \(device)"
    case .apiCall(let v, let call, let code, let name, let message):
      return "\(v) \(call) failed: \(name) (\(code)): \(message)"
    case .missingKernel(let name, let arch): return "kernel \(name) missing from the module for \(arch)"
    case .cacheIO(let path, let reason): return "kernel cache \(path): \(reason)"
    }
  }

  /// The QuantaCore error for callers of the device contract.
  public func asQuantaError(device: Device) -> QuantaError {
    switch self {
    case .outOfMemory(_, _, let req, let free):
      return .outOfMemory(device: device, requestedBytes: req, freeBytes: free)
    case .unsupported(let op, let type, _): return .unsupported(op: op, type: type, device: device)
    default: return .deviceUnavailable(device: device, reason: description)
    }
  }
}

extension GPUError {
  /// One line per cause, each path once: the paths that do not exist together, then each path that
  /// exists but did not load with the loader's reason (wrong architecture, a missing dependency, …).
  static func notFoundText(library: String, searched: [String], loaderMessages: [String]) -> String {
    var absent: [String] = []
    var failed: [String] = []
    for (i, path) in searched.enumerated() {
      let message = i < loaderMessages.count ? loaderMessages[i] : ""
      if message.isEmpty || message.hasSuffix("No such file or directory") {
        absent.append(path)
      } else {
        // dlerror() starts with the path; keep only the reason after it.
        let reason = message.hasPrefix(path + ": ") ? String(message.dropFirst(path.count + 2)) : message
        failed.append("\(path): \(reason)")
      }
    }
    var parts: [String] = []
    if !absent.isEmpty { parts.append("not found (searched \(absent.joined(separator: ", ")))") }
    parts += failed.map { "did not load: \($0)" }
    return "\(library) " + parts.joined(separator: "; ")
  }
}
