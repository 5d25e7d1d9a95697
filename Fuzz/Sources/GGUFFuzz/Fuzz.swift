import FuzzerDriver
import GGUF

// libFuzzer entry points. Every input must parse or throw a GGUFError: a trap, a sanitizer report
// or a leak is a finding. Set GGUF_FUZZ_MAKE_SEEDS=DIR to write the seed corpus and exit.
#if canImport(Glibc)
  import Glibc
#endif

/// SwiftPM links its own `main` into executables, so hand control to libFuzzer's driver.
@main
enum FuzzMain {
  static func main() {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    // The driver calls LLVMFuzzerInitialize (below) itself.
    exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) })
  }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
  let input = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
  guard let file = try? GGUFFile(bytes: input) else { return 0 }
  exercise(file)
  return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(
  _ argc: UnsafeMutablePointer<CInt>?,
  _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?
) -> CInt {
  if let dir = getenv("GGUF_FUZZ_MAKE_SEEDS") {
    do {
      try writeSeeds(to: String(cString: dir))
      exit(0)
    } catch {
      print("seed generation failed: \(error)")
      exit(1)
    }
  }
  return 0
}

/// What a consumer does after a successful parse: every view must stay inside the file.
func exercise(_ file: GGUFFile) {
  var checksum: UInt8 = 0
  for t in file.tensors {
    let view = file.data(for: t)
    guard view.count == t.byteCount else { abort() }  // a parsed tensor must lie in the file
    if let first = view.first, let last = view.last { checksum ^= first ^ last }
    guard file.tensor(named: t.name) == t else { abort() }
  }
  _ = try? file.validateModelMetadata()
  for (key, value) in file.metadata.entries {
    if case .array(let a) = value { checksum ^= UInt8(truncatingIfNeeded: a.count) }
    _ = try? file.metadata.int(key)
    _ = try? file.metadata.stringArray(key)
  }
  blackHole(checksum)
}

@inline(never)
func blackHole(_ x: UInt8) {
  withUnsafePointer(to: x) { _ = $0 }
}
