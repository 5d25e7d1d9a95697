import QuantaCore

extension GPUBackend {
  /// Free device memory as the driver reports it (`cuMemGetInfo` / `hipMemGetInfo`); nil when the
  /// query fails. Memory this backend's pool holds for reuse is not counted as free.
  public var availableMemory: Int? {
    try? context.run { () throws(GPUError) in try context.api.memoryInfo().free }
  }
}
