import GGML
import Testing

@testable import QuantaCore

/// A backend with memory only: shows what core validates before any backend runs, and that an op
/// a backend lacks is a typed `.unsupported` error.
final class MemoryOnlyBackend: ComputeBackend, @unchecked Sendable {
  // @unchecked: test double; its buffers are used from one test at a time.
  let device: Device
  var info: DeviceInfo {
    DeviceInfo(
      device: device, name: "memory only", architecture: "test", totalMemory: 0, computeUnits: 1,
      warpSize: 64,
      lastLevelCacheBytes: nil, capabilities: [])
  }
  init(device: Device) { self.device = device }

  final class Buffer: DeviceBuffer, @unchecked Sendable {
    let backend: any ComputeBackend
    let storage: UnsafeMutableRawBufferPointer
    var byteCount: Int { storage.count }
    var hostAddress: UnsafeMutableRawPointer? { storage.baseAddress }
    let isReadOnly = false
    init(_ backend: any ComputeBackend, _ n: Int) {
      self.backend = backend
      storage = .allocate(byteCount: max(n, 1), alignment: 16)
      storage.initializeMemory(as: UInt8.self, repeating: 0)
    }
    deinit { storage.deallocate() }
  }

  func allocate(byteCount: Int) throws -> any DeviceBuffer { Buffer(self, byteCount) }
  func makeBuffer(wrapping bytes: UnsafeRawBufferPointer, owner: any Sendable) throws -> any DeviceBuffer {
    let b = Buffer(self, bytes.count)
    if bytes.count > 0 { b.storage.copyMemory(from: bytes) }
    return b
  }
  func copy(_ source: UnsafeRawBufferPointer, to buffer: any DeviceBuffer, at offset: Int) throws {
    let b = buffer as! Buffer
    if source.count > 0 {
      (b.storage.baseAddress! + offset).copyMemory(from: source.baseAddress!, byteCount: source.count)
    }
  }
  func copy(_ buffer: any DeviceBuffer, at offset: Int, to destination: UnsafeMutableRawBufferPointer) throws
  {
    let b = buffer as! Buffer
    if destination.count > 0 {
      destination.baseAddress!.copyMemory(from: b.storage.baseAddress! + offset, byteCount: destination.count)
    }
  }
  func synchronize() throws {}
}

@Suite struct DeviceTests {
  @Test(arguments: [
    ("cpu", Device.cpu), ("CPU", Device.cpu), ("metal", Device.metal), ("cuda", Device.cuda(0)),
    ("cuda:0", Device.cuda(0)), ("rocm:1", Device.rocm(1)), ("ROCm:12", Device.rocm(12)),
  ])
  func parses(_ text: String, _ expected: Device) throws {
    #expect(try Device(parsing: text) == expected)
  }

  @Test(arguments: ["", "gpu", "cuda:", "cuda:-1", "cuda:x", "cpu:0", "metal:1", "rocm:1:2", "cuda0"])
  func rejects(_ text: String) {
    #expect(throws: QuantaError.self) { try Device(parsing: text) }
  }

  @Test func descriptionRoundTrips() throws {
    for d in [Device.cpu, .metal, .cuda(3), .rocm(0)] {
      #expect(try Device(parsing: d.description) == d)
    }
    #expect(Device.rocm(1).description == "rocm:1")
    #expect(Device.rocm(1) != Device.cuda(1))
  }
}

@Suite struct RegistryTests {
  @Test func noBackendNamesWhatIsRegistered() throws {
    let r = BackendRegistry()
    r.register(.cpu) { MemoryOnlyBackend(device: $0) }
    #expect(throws: QuantaError.noBackend(device: .rocm(0), registered: [.cpu])) {
      try r.backend(for: .rocm(0))
    }
  }

  @Test func factoryErrorsPassThroughAndBackendsAreReused() throws {
    let r = BackendRegistry()
    r.register(.cuda) { d in
      guard d.ordinal == 0 else { throw QuantaError.deviceUnavailable(device: d, reason: "1 device found") }
      return MemoryOnlyBackend(device: d)
    }
    #expect(throws: QuantaError.deviceUnavailable(device: .cuda(1), reason: "1 device found")) {
      try r.backend(for: "cuda:1")
    }
    let a = try r.backend(for: .cuda(0))
    let b = try r.backend(for: "cuda:0")
    #expect(a === b)
    #expect(r.registeredKinds == [.cuda])
  }
}

@Suite struct TensorTests {
  let backend = MemoryOnlyBackend(device: .rocm(0))

  @Test func roundTripsEveryDType() throws {
    let values: [Float] = [0, 1, -2.5, 0.1, 65504, 1e-3]
    let f32 = try Tensor(values, shape: [2, 3], on: backend)
    #expect(try f32.toArray() == values)
    #expect(f32.strides == [3, 1])
    #expect(f32.device == .rocm(0))
    let f16 = try Tensor(values, shape: [3, 2], dtype: .f16, on: backend)
    #expect(try f16.toArray() == values.map { fp16ToFp32(fp32ToFp16($0)) })
    let bf16 = try Tensor(values, shape: [6], dtype: .bf16, on: backend)
    #expect(try bf16.toArray() == values.map { bf16ToFp32(fp32ToBf16($0)) })
  }

  @Test func viewsAndReshapes() throws {
    let t = try Tensor((0..<12).map(Float.init), shape: [4, 3], on: backend)
    #expect(try t.rows(1..<3).toArray() == [3, 4, 5, 6, 7, 8])
    #expect(try t.reshaped([2, 6]).shape == [2, 6])
    let transposed = try Tensor(buffer: t.buffer, dtype: .f32, shape: [3, 4], strides: [1, 3])
    #expect(!transposed.isContiguous)
    #expect(try transposed.toArray() == [0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11])
    #expect(throws: QuantaError.self) { try transposed.reshaped([12]) }
  }

  @Test func rejectsBadShapes() throws {
    #expect(throws: QuantaError.self) { try Tensor([1, 2, 3], shape: [2, 2], on: backend) }
    #expect(throws: QuantaError.self) { try Tensor.zeros(shape: [Int.max, 4], on: backend) }
    #expect(throws: QuantaError.self) { try Tensor.zeros(shape: [-1], on: backend) }
    let small = try backend.allocate(byteCount: 8)
    #expect(throws: QuantaError.self) { try Tensor(buffer: small, dtype: .f32, shape: [3]) }
  }
}

@Suite struct ContractTests {
  let backend = MemoryOnlyBackend(device: .rocm(0))

  @Test func missingOpsAreTypedUnsupportedErrors() throws {
    let w = try QTensor.zeros(shape: [4, 32], type: .q4_0, on: backend)
    let x = try Tensor([Float](repeating: 1, count: 32), shape: [1, 32], on: backend)
    #expect(throws: QuantaError.unsupported(op: "matmul", type: "q4_0", device: .rocm(0))) {
      try QMatMul(weights: w).forward(x)
    }
    #expect(throws: QuantaError.unsupported(op: "dequantize", type: "q4_0", device: .rocm(0))) {
      try w.dequantize()
    }
    #expect(throws: QuantaError.unsupported(op: "silu", type: "f32", device: .rocm(0))) { try Ops.silu(x) }
  }

  @Test func coreValidatesBeforeCallingTheBackend() throws {
    let w = try QTensor.zeros(shape: [4, 64], type: .q8_0, on: backend)
    let mm = try QMatMul(weights: w)
    let wrongK = try Tensor([Float](repeating: 1, count: 32), shape: [1, 32], on: backend)
    #expect(throws: QuantaError.shapeMismatch(op: "matmul", expected: "[..., 64]", actual: [1, 32])) {
      try mm.forward(wrongK)
    }
    let f16 = try Tensor([Float](repeating: 1, count: 64), shape: [1, 64], dtype: .f16, on: backend)
    #expect(throws: QuantaError.typeMismatch(op: "matmul", expected: "f32", actual: "f16")) {
      try mm.forward(f16)
    }
    let other = MemoryOnlyBackend(device: .rocm(1))
    let elsewhere = try Tensor([Float](repeating: 1, count: 64), shape: [64], on: other)
    #expect(throws: QuantaError.deviceMismatch(op: "matmul", expected: .rocm(0), actual: .rocm(1))) {
      try mm.forward(elsewhere)
    }
    let a = try Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3], on: backend)
    let b = try Tensor([1, 2], shape: [2], on: backend)
    #expect(throws: QuantaError.self) { try Ops.add(a, b) }
    #expect(throws: QuantaError.indexOutOfRange(op: "getRows", index: 4, bound: 4)) {
      try Ops.getRows(w, ids: [0, 4])
    }
  }

  @Test func qtensorSizesAndBlockChecks() throws {
    let q = try QTensor.zeros(shape: [3, 512], type: .q4_K, on: backend)
    #expect(q.sizeInBytes == 3 * 2 * 144)
    #expect(q.blockSize == 256)
    #expect(q.rowByteCount == 288)
    #expect(try q.bytes() == [UInt8](repeating: 0, count: 864))
    #expect(throws: QuantaError.notBlockMultiple(op: "QTensor.zeros", type: .q4_K, count: 100)) {
      try QTensor.zeros(shape: [2, 100], type: .q4_K, on: backend)
    }
    #expect(throws: QuantaError.self) {
      try QTensor.zeros(shape: [Int.max / 2, 256], type: .q4_K, on: backend)
    }
    #expect(throws: QuantaError.self) {
      try QTensor(bytes: [UInt8](repeating: 0, count: 17), type: .q4_0, shape: [32], on: backend)
    }
  }
}
