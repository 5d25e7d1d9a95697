#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The files this process has memory-mapped, so that a SIGBUS handler can name the file a faulting
/// address belongs to. A mapped page whose file was truncated underneath (or overwritten by a
/// tool that truncates first, such as `cp`) faults with SIGBUS on its next read: the handler turns
/// that into a message naming the file instead of a silent exit 135.
///
/// The table is fixed-size, allocated once, and read by `path(containing:)` without locks or
/// allocation (async-signal-safe). Each slot holds its path inline (a C string of at most
/// `pathBytes - 1` bytes, longer ones cut), so registering allocates nothing and nothing leaks. A slot
/// is published by writing its path and start before its end (aligned word stores), and retired by
/// clearing its end first.
public enum MappedRegions {
  /// Maps tracked at once; a map beyond them works, unnamed in a SIGBUS report.
  static let capacity = 256
  /// Bytes per slot's path, NUL included.
  static let pathBytes = 1024

  struct Slot {
    var start: UInt
    var end: UInt
  }

  // nonisolated(unsafe): written only under `lock` (see the type's comment for the handler's reads).
  nonisolated(unsafe) static let slots: UnsafeMutablePointer<Slot> = {
    let p = UnsafeMutablePointer<Slot>.allocate(capacity: capacity)
    p.initialize(repeating: Slot(start: 0, end: 0), count: capacity)
    return p
  }()
  nonisolated(unsafe) static let paths: UnsafeMutablePointer<CChar> = {
    let p = UnsafeMutablePointer<CChar>.allocate(capacity: capacity * pathBytes)
    p.initialize(repeating: 0, count: capacity * pathBytes)
    return p
  }()
  nonisolated(unsafe) static let lock: UnsafeMutablePointer<pthread_mutex_t> = {
    let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    pthread_mutex_init(m, nil)
    return m
  }()

  /// Records a map of `path`; returns its slot for `unregister`, nil when the table is full.
  static func register(_ region: UnsafeRawBufferPointer, path: String) -> Int? {
    guard let base = region.baseAddress, region.count > 0 else { return nil }
    pthread_mutex_lock(lock)
    defer { pthread_mutex_unlock(lock) }
    guard let i = (0..<capacity).first(where: { slots[$0].end == 0 }) else { return nil }
    let bytes = Array(path.utf8.prefix(pathBytes - 1))
    let dest = paths + i * pathBytes
    for (k, b) in bytes.enumerated() { dest[k] = CChar(bitPattern: b) }
    dest[bytes.count] = 0
    slots[i].start = UInt(bitPattern: base)
    slots[i].end = UInt(bitPattern: base) + UInt(region.count)
    return i
  }

  static func unregister(_ slot: Int?) {
    guard let slot else { return }
    pthread_mutex_lock(lock)
    defer { pthread_mutex_unlock(lock) }
    slots[slot].end = 0
    slots[slot].start = 0
  }

  /// The path (a C string) of the mapped file holding `address`, nil when none does.
  /// Async-signal-safe: reads the table only.
  public static func path(containing address: UnsafeRawPointer?) -> UnsafePointer<CChar>? {
    guard let address else { return nil }
    let a = UInt(bitPattern: address)
    for i in 0..<capacity {
      let s = slots[i]
      if s.end != 0 && a >= s.start && a < s.end { return UnsafePointer(paths + i * pathBytes) }
    }
    return nil
  }

  /// Ensures the table exists before a signal handler that reads it is installed.
  public static func prepare() {
    _ = slots
    _ = paths
  }
}
