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
  ///
  /// - Parameters:
  ///   - cpu: The CPU backend's settings (threads, instruction set).
  ///   - gpu: The CUDA/ROCm backends' settings (matrix cores, library paths, kernel cache).
  /// - Returns: A new registry; its backends open on first use.
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
  ///
  /// - Parameters:
  ///   - values: Row-major values, as many as `shape` holds.
  ///   - shape: The dimensions.
  ///   - dtype: The element type stored on the device.
  ///   - device: Where the tensor lives.
  ///   - registry: Opens the backend of `device`.
  /// - Throws: `QuantaError.deviceUnavailable`, a count/shape mismatch, or the backend's error.
  public init(
    _ values: [Float], shape: [Int], dtype: DType = .f32, device: Device,
    registry: BackendRegistry = .standard
  ) throws {
    try self.init(values, shape: shape, dtype: dtype, on: registry.backend(for: device))
  }
}

extension QTensor {
  /// Zero blocks of `type` on `device`.
  ///
  /// - Parameters:
  ///   - device: Where the blocks live.
  ///   - shape: The logical dimensions (the last a multiple of the type's block size).
  ///   - type: The quantization type.
  ///   - registry: Opens the backend of `device`.
  /// - Throws: `QuantaError.deviceUnavailable`, a shape the type cannot hold, or the backend's error.
  public static func zeros(
    device: Device, shape: [Int], type: GGMLType, registry: BackendRegistry = .standard
  ) throws -> QTensor {
    try zeros(shape: shape, type: type, on: registry.backend(for: device))
  }

  /// Zero blocks of `type` holding `count` values (a multiple of the block size) on `device`.
  ///
  /// - Parameters:
  ///   - device: Where the blocks live.
  ///   - count: The number of values.
  ///   - type: The quantization type.
  ///   - registry: Opens the backend of `device`.
  /// - Throws: `QuantaError.deviceUnavailable`, a count the type cannot hold, or the backend's error.
  public static func zeros(
    device: Device, count: Int, type: GGMLType, registry: BackendRegistry = .standard
  ) throws -> QTensor {
    try zeros(count: count, type: type, on: registry.backend(for: device))
  }

  /// A GGUF tensor on `device` (a zero-copy view on the CPU).
  ///
  /// - Parameters:
  ///   - tensor: The tensor's entry in `file`.
  ///   - file: The opened GGUF file.
  ///   - device: Where the tensor goes.
  ///   - registry: Opens the backend of `device`.
  /// - Throws: `QuantaError.deviceUnavailable`, `GGUFError` for data outside the file, or the backend's
  ///   error.
  public static func load(
    _ tensor: GGUFTensorInfo, from file: GGUFFile, device: Device, registry: BackendRegistry = .standard
  ) throws -> QTensor {
    try load(tensor, from: file, on: registry.backend(for: device))
  }
}
