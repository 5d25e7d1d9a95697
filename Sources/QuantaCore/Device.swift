/// The family of a device. ROCm is its own kind, never "CUDA in disguise" (DESIGN.md principle 2).
public enum DeviceKind: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
  case cpu, cuda, rocm, metal
  public var description: String { rawValue }
  /// Kinds that address several devices by ordinal.
  public var hasOrdinal: Bool { self == .cuda || self == .rocm }
}

/// Device identity: a plain value (kind + ordinal). Behaviour lives in the `ComputeBackend` that a
/// `BackendRegistry` opens for it.
public struct Device: Sendable, Hashable, CustomStringConvertible {
  public let kind: DeviceKind
  /// Index among the devices of this kind (always 0 for `.cpu` and `.metal`).
  public let ordinal: Int

  public init(kind: DeviceKind, ordinal: Int = 0) {
    self.kind = kind
    self.ordinal = ordinal
  }

  public static let cpu = Device(kind: .cpu)
  public static let metal = Device(kind: .metal)
  public static func cuda(_ ordinal: Int = 0) -> Device { Device(kind: .cuda, ordinal: ordinal) }
  public static func rocm(_ ordinal: Int = 0) -> Device { Device(kind: .rocm, ordinal: ordinal) }

  /// Parses "cpu", "metal", "cuda", "cuda:0", "rocm:1" (case-insensitive).
  public init(parsing text: String) throws(QuantaError) {
    let lowered = text.lowercased()
    let parts = lowered.split(separator: ":", omittingEmptySubsequences: false)
    guard let kindText = parts.first, let kind = DeviceKind(rawValue: String(kindText)) else {
      throw .invalidDeviceString(text, reason: "unknown kind (use cpu, cuda[:N], rocm[:N], metal)")
    }
    switch parts.count {
    case 1:
      self.init(kind: kind)
    case 2:
      guard kind.hasOrdinal else {
        throw .invalidDeviceString(text, reason: "\(kind) takes no ordinal")
      }
      guard let n = Int(parts[1]), n >= 0 else {
        throw .invalidDeviceString(text, reason: "ordinal '\(parts[1])' is not a non-negative integer")
      }
      self.init(kind: kind, ordinal: n)
    default:
      throw .invalidDeviceString(text, reason: "expected KIND or KIND:N")
    }
  }

  public var description: String { kind.hasOrdinal ? "\(kind):\(ordinal)" : kind.rawValue }
}

/// Something a device can do that ops or kernels may depend on.
public struct DeviceCapability: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
  public let rawValue: String
  public init(rawValue: String) { self.rawValue = rawValue }
  public var description: String { rawValue }

  // CPU instruction sets.
  public static let avx2 = DeviceCapability(rawValue: "avx2")
  public static let avx512 = DeviceCapability(rawValue: "avx512")
  public static let avx512VNNI = DeviceCapability(rawValue: "avx512vnni")
  public static let neon = DeviceCapability(rawValue: "neon")
  // GPU features (read from the device by GPU backends).
  public static let dp4a = DeviceCapability(rawValue: "dp4a")
  public static let matrixCores = DeviceCapability(rawValue: "matrix-cores")
  public static let fp16 = DeviceCapability(rawValue: "fp16")
  public static let bf16 = DeviceCapability(rawValue: "bf16")
}

/// Facts about an opened device, as `quanta devices` prints them.
public struct DeviceInfo: Sendable, Hashable {
  public var device: Device
  /// Human name ("AMD EPYC", "NVIDIA H100 80GB HBM3", ...).
  public var name: String
  /// "x86_64+avx512vnni", "arm64+neon", "sm_90", "gfx90a".
  public var architecture: String
  /// Bytes of memory the device can address (host RAM for the CPU).
  public var totalMemory: Int
  /// Hardware threads for the CPU, compute units / SMs for GPUs.
  public var computeUnits: Int
  /// Physical SIMD width of a GPU wavefront (32 or 64; never assumed — principle 3). nil on CPU.
  public var warpSize: Int?
  /// Bytes of the last-level cache (L3 on a CPU, L2 on a GPU), if known: benchmarks size their
  /// matrices past it.
  public var lastLevelCacheBytes: Int?
  public var capabilities: Set<DeviceCapability>

  public init(
    device: Device, name: String, architecture: String, totalMemory: Int, computeUnits: Int,
    warpSize: Int?, lastLevelCacheBytes: Int?, capabilities: Set<DeviceCapability>
  ) {
    self.lastLevelCacheBytes = lastLevelCacheBytes
    self.device = device
    self.name = name
    self.architecture = architecture
    self.totalMemory = totalMemory
    self.computeUnits = computeUnits
    self.warpSize = warpSize
    self.capabilities = capabilities
  }
}
