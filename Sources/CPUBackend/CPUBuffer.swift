import QuantaCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Host memory of the CPU backend: either allocated here (64-byte aligned, zero-filled, freed on
/// deinit) or a view of memory that `owner` keeps alive (a GGUF file's read-only map: zero-copy).
///
/// `@unchecked Sendable`: the address, size and owner never change after init. The bytes are
/// mutable and unsynchronized, as `DeviceBuffer` documents: ops run in call order and callers do not
/// write one buffer from two tasks at once. Wrapped buffers are read-only (`isReadOnly`) and core
/// refuses writes into them.
final class CPUBuffer: DeviceBuffer, @unchecked Sendable {
  let backend: any ComputeBackend
  let base: UnsafeMutableRawPointer
  let byteCount: Int
  let isReadOnly: Bool
  private let owner: (any Sendable)?

  var hostAddress: UnsafeMutableRawPointer? { base }

  /// Zero-filled memory; nil when the allocation fails.
  init?(backend: any ComputeBackend, byteCount: Int) {
    var p: UnsafeMutableRawPointer?
    // 64 bytes: a cache line and an AVX-512 register; at least 1 byte so the address is unique.
    guard posix_memalign(&p, 64, max(byteCount, 1)) == 0, let p else { return nil }
    memset(p, 0, max(byteCount, 1))
    self.backend = backend
    self.base = p
    self.byteCount = byteCount
    self.isReadOnly = false
    self.owner = nil
  }

  init(backend: any ComputeBackend, wrapping bytes: UnsafeRawBufferPointer, owner: any Sendable) {
    self.backend = backend
    self.base = UnsafeMutableRawPointer(mutating: bytes.baseAddress!)
    self.byteCount = bytes.count
    self.isReadOnly = true
    self.owner = owner
  }

  deinit {
    if owner == nil { free(base) }
  }
}
