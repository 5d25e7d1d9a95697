#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// A shared library opened with `dlopen` at run time (DESIGN.md principle 4: vendor libraries are
/// optional; the package builds and runs without them).
final class DynamicLibrary: @unchecked Sendable {
  // @unchecked: the handle is immutable after init and dlsym is thread-safe.
  let name: String
  let path: String
  private let handle: UnsafeMutableRawPointer

  private init(name: String, path: String, handle: UnsafeMutableRawPointer) {
    self.name = name
    self.path = path
    self.handle = handle
  }

  /// Opens the first loadable candidate. `override` (a path the caller passed in) replaces
  /// the search list when set. Throws `libraryNotFound` with every name tried and each loader message.
  static func open(_ name: String, candidates: [String], override: String?) throws(GPUError) -> DynamicLibrary
  {
    let list = override.map { [$0] } ?? candidates
    var messages: [String] = []
    for path in list {
      _ = dlerror()
      if let h = dlopen(path, RTLD_NOW | RTLD_LOCAL) {
        return DynamicLibrary(name: name, path: path, handle: h)
      }
      messages.append(dlerror().map { String(cString: $0) } ?? "\(path): unknown dlopen failure")
    }
    throw .libraryNotFound(library: name, searched: list, loaderMessages: messages)
  }

  /// The symbol as a C function pointer of type `T` (a `@convention(c)` function type).
  func function<T>(_ symbol: String, as _: T.Type = T.self) throws(GPUError) -> T {
    guard let p = dlsym(handle, symbol) else {
      throw .missingSymbol(library: name, path: path, symbol: symbol)
    }
    return unsafeBitCast(p, to: T.self)
  }

  func optionalFunction<T>(_ symbol: String, as _: T.Type = T.self) -> T? {
    dlsym(handle, symbol).map { unsafeBitCast($0, to: T.self) }
  }
}

/// An environment variable, or nil when unset or empty.
func environment(_ name: String) -> String? {
  guard let v = getenv(name) else { return nil }
  let s = String(cString: v)
  return s.isEmpty ? nil : s
}

/// libc's free (named apart from the vendor APIs' `free(_:)` methods).
func cFree(_ p: UnsafeMutableRawPointer?) { free(p) }
func cFree(_ p: UnsafeMutablePointer<CChar>?) { free(p) }
