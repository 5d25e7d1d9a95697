import GGML
import GGUF
import QuantaCore
import Testing

@testable import CPUBackend

#if canImport(Glibc)
  import Glibc
#endif

@Suite struct QTensorTests {
  @Test("dequantize and dequantizeF16 equal the reference exactly", arguments: Fixture.types)
  func dequantizeExact(_ type: GGMLType) throws {
    let k = Fixture.ks(type)[1]
    let c = try Fixture.data(type, k: k)
    let q = try QTensor(bytes: c.weights, type: type, shape: [Fixture.weightRows, k], on: Fixture.cpu())
    let f32 = try q.dequantize()
    #expect(f32.shape == q.shape && f32.dtype == .f32)
    let got = try f32.toArray()
    #expect(got.map(\.bitPattern) == c.dequantized.map(\.bitPattern))
    let f16 = try q.dequantizeF16()
    #expect(f16.dtype == .f16)
    let halfBits = try c.weights.withUnsafeBytes { try type.dequantizeF16($0, count: c.dequantized.count) }
    #expect(try f16.toArray().map(\.bitPattern) == halfBits.map { fp16ToFp32($0).bitPattern })
  }

  @Test(
    "quantize(from:) equals the reference quantizer byte for byte",
    arguments: Fixture.types.filter { $0.quantizer != nil })
  func quantizeExact(_ type: GGMLType) throws {
    let k = Fixture.ks(type)[1]
    var rng = OpsReference.Random(seed: 99)
    let values = rng.floats(5 * k, -3, 3)
    let x = try Tensor(values, shape: [5, k], on: Fixture.cpu())
    let q = try QTensor.quantize(x, type: type)
    #expect(try q.bytes() == type.quantize(values))
    #expect(q.sizeInBytes == type.byteCount(forElements: 5 * k))
  }

  @Test func zerosAndRawBytes() throws {
    let q = try QTensor.zeros(count: 512, type: .q6_K, on: Fixture.cpu())
    #expect(q.shape == [512] && q.sizeInBytes == 2 * 210 && q.device == .cpu)
    try q.withUnsafeBytes { bytes in
      #expect(bytes.count == 420)
      #expect(bytes.allSatisfy { $0 == 0 })
    }
    #expect(try q.dequantize().toArray() == [Float](repeating: 0, count: 512))
  }

  @Test func loadIsAZeroCopyViewOfTheMappedFile() throws {
    let k = 512
    let c = try Fixture.data(.q4_K, k: k)
    var writer = GGUFWriter()
    writer.addTensor(
      name: "blk.0.ffn_up.weight", type: .q4_K, shape: [k, Fixture.weightRows], bytes: c.weights)
    writer.addTensor(
      name: "bias", type: .f32, shape: [3], bytes: [Float(1), 2, 3].withUnsafeBytes { Array($0) })
    let path = "/tmp/quanta-core-load-\(getpid()).gguf"
    try writer.write(to: path)
    defer { unlink(path) }

    var loaded: QTensor
    var range: (UInt, UInt)
    do {
      let file = try GGUFFile(path: path)
      let info = try #require(file.tensor(named: "blk.0.ffn_up.weight"))
      loaded = try QTensor.load(info, from: file, on: Fixture.cpu())
      let map = file.rawBytes
      range = (UInt(bitPattern: map.baseAddress), UInt(bitPattern: map.baseAddress! + map.count))
      let bias = try QTensor.load(try #require(file.tensor(named: "bias")), from: file, on: Fixture.cpu())
      #expect(try Ops.getRows(bias.dequantize().reshaped([1, 3]), ids: [0]).toArray() == [1, 2, 3])
    }
    // The file value is gone; the tensor keeps the map alive.
    #expect(loaded.shape == [Fixture.weightRows, k])  // GGUF [k, n] → numpy [n, k]
    let address = UInt(bitPattern: try #require(loaded.buffer.hostAddress)) + UInt(loaded.byteOffset)
    #expect(address >= range.0 && address + UInt(loaded.sizeInBytes) <= range.1)
    try loaded.withUnsafeBytes { bytes in
      #expect(UInt(bitPattern: bytes.baseAddress) == address)
      #expect(Array(bytes) == c.weights)
    }
    #expect(try loaded.dequantize().toArray() == c.dequantized)
    // Read-only map: writing into it is refused, not a crash.
    let x = try Tensor(
      [Float](repeating: 0, count: Fixture.weightRows * k), shape: [Fixture.weightRows, k], on: Fixture.cpu())
    #expect(throws: QuantaError.self) { try loaded.quantize(from: x) }
  }
}

@Suite struct ThreadPoolTests {
  @Test(arguments: [1, 2, 3, 8])
  func everyTaskRunsExactlyOnce(_ threads: Int) throws {
    let pool = try ThreadPool(threadCount: threads)
    for tasks in [0, 1, 2, 5, 64, 1000] {
      let counts = UnsafeMutablePointer<Int>.allocate(capacity: max(tasks, 1))
      counts.initialize(repeating: 0, count: max(tasks, 1))
      defer { counts.deallocate() }
      let badThread = UnsafeMutablePointer<Bool>.allocate(capacity: 1)
      badThread.initialize(to: false)
      defer { badThread.deallocate() }
      pool.parallelFor(tasks: tasks) { t, thread in
        counts[t] += 1  // each task index is handed out once, so no two threads write one slot
        if thread < 0 || thread >= pool.threadCount { badThread.pointee = true }
      }
      #expect((0..<tasks).allSatisfy { counts[$0] == 1 }, "threads \(threads) tasks \(tasks)")
      #expect(!badThread.pointee)
    }
  }

  @Test func nestedCallsRunInlineInsteadOfDeadlocking() throws {
    let pool = try ThreadPool(threadCount: 2)
    let sums = UnsafeMutablePointer<Int>.allocate(capacity: 8)
    sums.initialize(repeating: 0, count: 8)
    defer { sums.deallocate() }
    pool.parallelFor(tasks: 8) { t, _ in
      pool.parallelFor(count: 10, chunk: 3) { r, _ in sums[t] += r.count }
    }
    #expect((0..<8).allSatisfy { sums[$0] == 10 })
  }

  @Test func concurrentCallersAllComplete() async throws {
    let pool = try ThreadPool(threadCount: 2)
    let total = await withTaskGroup(of: Int.self) { group in
      for _ in 0..<8 {
        group.addTask {
          let slots = UnsafeMutablePointer<Int>.allocate(capacity: 100)
          slots.initialize(repeating: 0, count: 100)
          defer { slots.deallocate() }
          for _ in 0..<50 { pool.parallelFor(tasks: 100) { t, _ in slots[t] += 1 } }
          return (0..<100).reduce(0) { $0 + slots[$1] }
        }
      }
      return await group.reduce(0, +)
    }
    #expect(total == 8 * 50 * 100)
  }

  @Test func chunkSizes() throws {
    let pool = try ThreadPool(threadCount: 2)
    #expect(pool.chunk(for: 14336, perThread: 4, minimum: 16, multiple: 4) == 1792)
    #expect(pool.chunk(for: 10, perThread: 4, minimum: 16) == 16)
  }
}
