import GGUF
import Testing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Issue 17 §7: a path that is not a regular file is a typed error at once, never a blocked read.
@Suite struct NonRegularFileTests {
  @Test func fifoIsRefusedWithoutBlocking() throws {
    let path = "/tmp/quanta-fifo-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    #expect(mkfifo(path, 0o600) == 0, "mkfifo \(path) failed")
    defer { unlink(path) }
    // No writer ever opens the FIFO: a blocking open would hang this test.
    #expect(throws: GGUFError.notRegularFile(path: path, kind: "a FIFO")) { try GGUFFile(path: path) }
  }

  @Test func directoryIsRefused() {
    #expect(throws: GGUFError.notRegularFile(path: "/tmp", kind: "a directory")) {
      try GGUFFile(path: "/tmp")
    }
    #expect(
      GGUFError.notRegularFile(path: "/tmp", kind: "a directory").description
        == "'/tmp' is a directory, not a regular file: a model is read from a file")
  }
}
