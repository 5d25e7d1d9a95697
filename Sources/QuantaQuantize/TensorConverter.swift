import Dispatch
import Foundation
import GGML

/// Converts one tensor's rows from its stored type to another through f32, rows split across
/// threads. Memory: one f32 chunk per thread, never the whole tensor in f32.
public enum TensorConverter {
  /// Values per f32 working chunk (per thread): 64 Ki floats = 256 KiB, cache-sized.
  static let chunkElements = 1 << 16

  /// Whether `type` can be turned into f32 (directly or through a reference dequantizer).
  public static func canRead(_ type: GGMLType) -> Bool {
    type == .f32 || type == .f16 || type == .bf16 || type.dequantizer != nil
  }

  /// Whether f32 can be turned into `type` (directly or through a reference quantizer).
  public static func canWrite(_ type: GGMLType) -> Bool {
    type == .f32 || type == .f16 || type == .bf16 || type.quantizer != nil
  }

  /// Converts `rows` rows of `rowLength` values from `src` (`srcType`) into `dst` (`dstType`).
  /// - Parameters:
  ///   - progress: called (from any thread) with the number of source bytes just finished.
  public static func convert(
    tensor: String,
    src: UnsafeRawBufferPointer, srcType: GGMLType,
    dst: UnsafeMutableRawBufferPointer, dstType: GGMLType,
    rowLength: Int, rows: Int, threads: Int,
    progress: @escaping @Sendable (Int) -> Void = { _ in }
  ) throws {
    guard canRead(srcType) else { throw QuantaToolError.noDequantizer(type: srcType, tensor: tensor) }
    guard canWrite(dstType) else { throw QuantaToolError.noQuantizer(type: dstType, tensor: tensor) }
    guard rows > 0, rowLength > 0 else { return }
    guard let srcRow = srcType.byteCount(forElements: rowLength),
      let dstRow = dstType.byteCount(forElements: rowLength),
      src.count == srcRow * rows, dst.count == dstRow * rows
    else {
      throw QuantaToolError.invalidArgument(
        "tensor \(tensor): \(rows) rows of \(rowLength) do not fit \(srcType) → \(dstType) buffers of \(src.count) / \(dst.count) bytes"
      )
    }
    let workers = max(1, min(threads, rows))
    let rowsPerChunk = max(1, chunkElements / rowLength)
    let failure = FirstError()
    // The workers write disjoint row ranges of `dst` and only read `src`; both outlive the call.
    let buffers = UnsafeTransfer((src, dst))

    // Worker w takes rows [w·rows/workers, (w+1)·rows/workers): contiguous, so each writes its own
    // slice of `dst` and no two threads touch the same bytes.
    let work: @Sendable (Int) -> Void = { w in
      let (src, dst) = buffers.value
      let first = w * rows / workers
      let end = (w + 1) * rows / workers
      let scratch = UnsafeMutableBufferPointer<Float>.allocate(capacity: rowsPerChunk * rowLength)
      defer { scratch.deallocate() }
      var row = first
      while row < end, !failure.isSet {
        let n = min(rowsPerChunk, end - row)
        let count = n * rowLength
        let f32 = UnsafeMutableBufferPointer(rebasing: scratch[0..<count])
        let srcSlice = UnsafeRawBufferPointer(rebasing: src[(row * srcRow)..<((row + n) * srcRow)])
        let dstSlice = UnsafeMutableRawBufferPointer(rebasing: dst[(row * dstRow)..<((row + n) * dstRow)])
        do {
          try toF32(srcSlice, srcType, f32, tensor: tensor)
          try fromF32(UnsafeBufferPointer(f32), dstSlice, dstType, tensor: tensor)
        } catch {
          failure.set(error)
          return
        }
        progress(n * srcRow)
        row += n
      }
    }
    if workers == 1 {
      work(0)
    } else {
      DispatchQueue.concurrentPerform(iterations: workers, execute: work)
    }
    if let error = failure.error { throw error }
  }

  static func toF32(
    _ src: UnsafeRawBufferPointer, _ type: GGMLType, _ out: UnsafeMutableBufferPointer<Float>,
    tensor: String
  ) throws {
    switch type {
    case .f32:
      UnsafeMutableRawBufferPointer(out).copyMemory(from: src)
    case .f16:
      for i in 0..<out.count {
        out[i] = fp16ToFp32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
      }
    case .bf16:
      for i in 0..<out.count {
        out[i] = bf16ToFp32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
      }
    default:
      do {
        try type.dequantize(src, into: out)
      } catch GGMLCodecError.noDequantizer {
        throw QuantaToolError.noDequantizer(type: type, tensor: tensor)
      }
    }
  }

  static func fromF32(
    _ values: UnsafeBufferPointer<Float>, _ dst: UnsafeMutableRawBufferPointer, _ type: GGMLType,
    tensor: String
  ) throws {
    switch type {
    case .f32:
      dst.copyMemory(from: UnsafeRawBufferPointer(values))
    case .f16:
      for i in 0..<values.count {
        dst.storeBytes(of: fp32ToFp16(values[i]), toByteOffset: 2 * i, as: UInt16.self)
      }
    case .bf16:
      for i in 0..<values.count {
        dst.storeBytes(of: fp32ToBf16(values[i]), toByteOffset: 2 * i, as: UInt16.self)
      }
    default:
      do {
        try type.quantize(values, into: dst)
      } catch GGMLCodecError.noQuantizer {
        throw QuantaToolError.noQuantizer(type: type, tensor: tensor)
      }
    }
  }
}

/// The first error any worker hit; later ones are dropped. Also lets the other workers stop early.
final class FirstError: @unchecked Sendable {
  // @unchecked: every access to `stored` holds `lock`.
  private let lock = NSLock()
  private var stored: (any Error)?

  func set(_ error: any Error) {
    lock.lock()
    if stored == nil { stored = error }
    lock.unlock()
  }

  var error: (any Error)? {
    lock.lock()
    defer { lock.unlock() }
    return stored
  }

  var isSet: Bool { error != nil }
}

/// Hands raw buffers to worker threads. @unchecked: the caller promises disjoint writes and that the
/// memory outlives the workers (see `convert`).
struct UnsafeTransfer<Value>: @unchecked Sendable {
  let value: Value
  init(_ value: Value) { self.value = value }
}
