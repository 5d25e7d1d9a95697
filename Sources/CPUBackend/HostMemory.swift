#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The host memory this process may still allocate: the smallest of what the system has available
/// (`MemAvailable`), what the process's memory cgroup allows (v2 `memory.max`, v1
/// `memory.limit_in_bytes`, less what the group uses, its inactive file cache counted as free), and
/// what the address-space and data limits (`ulimit -v`, `ulimit -d`) leave.
enum HostMemory {
  /// Bytes available to new allocations; nil when nothing could be read.
  static func available() -> Int? {
    var best: Int?
    func consider(_ value: Int?) {
      guard let value else { return }
      best = min(best ?? value, max(0, value))
    }
    consider(meminfoAvailable(CPUBackend.smallFile("/proc/meminfo", limit: 16384)))
    consider(cgroupAvailable())
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    if let statm = CPUBackend.smallFile("/proc/self/statm"),
      let size = statm.split(separator: " ").first.flatMap({ Int($0) })
    {
      consider(limitLeft(resource(RLIMIT_AS), used: size * page))
    }
    if let status = CPUBackend.smallFile("/proc/self/status", limit: 16384),
      let data = kibField(status, "VmData:")
    {
      consider(limitLeft(resource(RLIMIT_DATA), used: data))
    }
    if best == nil {
      let pages = sysconf(Int32(_SC_AVPHYS_PAGES))
      if pages > 0 { best = pages * page }
    }
    return best
  }

  /// `MemAvailable` of /proc/meminfo, in bytes.
  static func meminfoAvailable(_ text: String?) -> Int? {
    text.flatMap { kibField($0, "MemAvailable:") }
  }

  /// A `Key:   123 kB` line's value in bytes.
  static func kibField(_ text: String, _ key: String) -> Int? {
    for line in text.split(separator: "\n") where line.hasPrefix(key) {
      let fields = line.dropFirst(key.count).split(separator: " ")
      guard let value = fields.first.flatMap({ Int($0) }) else { return nil }
      return value * 1024
    }
    return nil
  }

  #if canImport(Glibc)
    static func resource(_ r: __rlimit_resource) -> __rlimit_resource_t { __rlimit_resource_t(r.rawValue) }
    typealias Resource = __rlimit_resource_t
  #else
    static func resource(_ r: Int32) -> Int32 { r }
    typealias Resource = Int32
  #endif

  /// What the soft limit `resource` leaves above `used` bytes; nil when unlimited.
  static func limitLeft(_ resource: Resource, used: Int) -> Int? {
    var limit = rlimit()
    guard getrlimit(resource, &limit) == 0, limit.rlim_cur < UInt64(Int.max)  // RLIM_INFINITY is all ones
    else { return nil }
    return Int(limit.rlim_cur) - used
  }

  /// The memory cgroup's headroom: v2 (the unified hierarchy) first, then v1; in the process's own
  /// group, then at the mount's root (a container's namespace shows its group there).
  static func cgroupAvailable() -> Int? {
    let own = CPUBackend.smallFile("/proc/self/cgroup")
    let versions: [(root: String, controller: String?, limit: String, usage: String, inactive: String)] = [
      ("/sys/fs/cgroup", nil, "memory.max", "memory.current", "inactive_file"),
      (
        "/sys/fs/cgroup/memory", "memory", "memory.limit_in_bytes", "memory.usage_in_bytes",
        "total_inactive_file"
      ),
    ]
    for v in versions {
      let dirs = (cgroupPath(own, controller: v.controller).map { [v.root + $0] } ?? []) + [v.root]
      for dir in dirs {
        if let left = cgroupHeadroom(
          limit: CPUBackend.smallFile(dir + "/" + v.limit), usage: CPUBackend.smallFile(dir + "/" + v.usage),
          stat: CPUBackend.smallFile(dir + "/memory.stat", limit: 16384), inactiveKey: v.inactive)
        {
          return left
        }
      }
    }
    return nil
  }

  /// The path of this process's cgroup in /proc/self/cgroup: the v2 line (`0::/path`) when
  /// `controller` is nil, else the v1 line listing `controller`.
  static func cgroupPath(_ text: String?, controller: String?) -> String? {
    guard let text else { return nil }
    for line in text.split(separator: "\n") {
      let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
      guard parts.count == 3 else { continue }
      let matches =
        controller == nil
        ? parts[0] == "0" && parts[1].isEmpty
        : parts[1].split(separator: ",").contains {
          $0 == controller!
        }
      if matches { return parts[2] == "/" ? nil : String(parts[2]) }
    }
    return nil
  }

  /// `limit − usage + inactive file cache`; nil when there is no limit ("max", or v1's near-2^63
  /// "unlimited") or the files are unreadable.
  static func cgroupHeadroom(limit: String?, usage: String?, stat: String?, inactiveKey: String) -> Int? {
    guard let limitText = limit?.trimmingWhitespace, let limit = Int(limitText), limit < 1 << 60,
      let usage = usage?.trimmingWhitespace.flatMap({ Int($0) })
    else { return nil }
    var inactive = 0
    if let stat {
      for line in stat.split(separator: "\n") {
        let f = line.split(separator: " ")
        if f.count == 2, f[0] == inactiveKey, let v = Int(f[1]) { inactive = v }
      }
    }
    return limit - usage + min(inactive, usage)
  }
}

extension String {
  fileprivate var trimmingWhitespace: String? {
    let t = split(whereSeparator: { $0 == " " || $0 == "\n" }).first.map(String.init)
    return t
  }
}
