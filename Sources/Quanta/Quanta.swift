// The umbrella module: QuantaCore's API plus the standard backends, registered in one place.
// Adding a backend = its folder (module) + one `register` line below.
@_exported import CPUBackend
@_exported import GGML
@_exported import GGUF
import GPUBackend
@_exported import QuantaCore

/// The GPU backend's configuration (matrix cores, dependent launches, vendor library paths, kernel
/// cache directory), named here so that users of `Quanta` need not import `GPUBackend`.
public typealias GPUConfiguration = GPUBackend.Configuration

extension BackendRegistry {
  /// A new registry with every standard backend: the CPU (configured by `cpu`), CUDA and ROCm
  /// (opened on first use with `gpu`; a missing driver or device is a typed error then). Metal joins here.
  public static func makeStandard(
    cpu: CPUBackend.Configuration = .init(), gpu: GPUBackend.Configuration = .init()
  ) -> BackendRegistry {
    let registry = BackendRegistry()
    registry.register(.cpu) { device in
      guard device.ordinal == 0 else {
        throw QuantaError.deviceUnavailable(device: device, reason: "the CPU backend serves one device, cpu")
      }
      return try CPUBackend(configuration: cpu)
    }
    // One host implementation serves both vendors; the vendor comes from the device kind.
    registry.register(.cuda, factory: GPUBackend.factory(gpu))
    registry.register(.rocm, factory: GPUBackend.factory(gpu))
    return registry
  }

  /// The shared standard registry (default CPU configuration). Backends open on first use and stay
  /// open; pass your own registry (`makeStandard(cpu:)`) for other settings.
  public static let standard = makeStandard()
}

extension Tensor {
  /// `values` as a tensor on `device`, opened through `registry`.
  public init(
    _ values: [Float], shape: [Int], dtype: DType = .f32, device: Device,
    registry: BackendRegistry = .standard
  ) throws {
    try self.init(values, shape: shape, dtype: dtype, on: registry.backend(for: device))
  }
}

extension QTensor {
  /// Zero blocks of `type` on `device`.
  public static func zeros(
    device: Device, shape: [Int], type: GGMLType, registry: BackendRegistry = .standard
  ) throws -> QTensor {
    try zeros(shape: shape, type: type, on: registry.backend(for: device))
  }

  public static func zeros(
    device: Device, count: Int, type: GGMLType, registry: BackendRegistry = .standard
  ) throws -> QTensor {
    try zeros(count: count, type: type, on: registry.backend(for: device))
  }

  /// A GGUF tensor on `device` (a zero-copy view on the CPU).
  public static func load(
    _ tensor: GGUFTensorInfo, from file: GGUFFile, device: Device, registry: BackendRegistry = .standard
  ) throws -> QTensor {
    try load(tensor, from: file, on: registry.backend(for: device))
  }
}
