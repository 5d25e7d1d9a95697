import QuantaCore

// What `quanta bench matmul` (the QuantaBench module) reads from the GPU backend besides the
// `ComputeBackend` contract. Inference never calls it.
extension GPUBackend {
  /// The memory bandwidth `quanta bench matmul` compares its mat-vec rates with, in bytes per
  /// second: `iterations` device-to-device copies of `bytes` (larger than the last-level cache)
  /// timed by stream events after one warm-up copy, each byte counted as read and written.
  public func measureReferenceBandwidth(bytes: Int, iterations: Int) throws -> Double {
    let a = try gpuBuffer(allocate(byteCount: bytes), "bandwidth")
    let b = try gpuBuffer(allocate(byteCount: bytes), "bandwidth")
    return try call { () throws(GPUError) -> Double in
      try context.run { () throws(GPUError) -> Double in
        let api = context.api
        let start = try api.createEvent(), end = try api.createEvent()
        defer { api.destroyEvent(start); api.destroyEvent(end) }
        try api.copyOnDevice(b.pointer, from: a.pointer, bytes: bytes, stream: context.stream)  // warm-up
        try api.record(event: start, stream: context.stream)
        for _ in 0..<max(iterations, 1) {
          try api.copyOnDevice(b.pointer, from: a.pointer, bytes: bytes, stream: context.stream)
        }
        try api.record(event: end, stream: context.stream)
        try api.synchronize(stream: context.stream)
        let ms = try api.elapsedMilliseconds(from: start, to: end)
        // A copy reads and writes each byte.
        return Double(2 * bytes * max(iterations, 1)) / (Double(ms) / 1000)
      }
    }
  }
}
