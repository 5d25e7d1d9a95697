import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Issue 17 §1, §3, §4 end to end: the `quanta` binary in a child process (under an address-space
/// limit where memory is at stake, so a failure cannot take the machine down), with the model file
/// truncated and signals sent while it runs.
@Suite(.serialized) struct ProcessReliabilityTests {
  /// The `quanta` executable built beside this test bundle.
  static func binary() throws -> String {
    let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    let path = (exe as NSString).deletingLastPathComponent + "/quanta"
    guard FileManager.default.isExecutableFile(atPath: path) else {
      throw Failure("\(path) is missing: build the quanta product (swift build) before these tests")
    }
    return path
  }

  struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
  }

  /// A running child: its output goes to files (no pipe to fill up and block it).
  final class Child {
    let process = Process()
    let stdoutPath: String
    let stderrPath: String

    /// `quanta ARGS`, under `ulimit -v LIMIT_KIB` when given.
    init(_ arguments: [String], addressSpaceKiB: Int? = nil, in dir: TempDir) throws {
      stdoutPath = dir.file("stdout-\(UUID().uuidString)")
      stderrPath = dir.file("stderr-\(UUID().uuidString)")
      FileManager.default.createFile(atPath: stdoutPath, contents: nil)
      FileManager.default.createFile(atPath: stderrPath, contents: nil)
      let quanta = try ProcessReliabilityTests.binary()
      if let kib = addressSpaceKiB {
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", "ulimit -v \(kib) && exec \"$0\" \"$@\"", quanta] + arguments
      } else {
        process.executableURL = URL(fileURLWithPath: quanta)
        process.arguments = arguments
      }
      process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
      process.standardError = FileHandle(forWritingAtPath: stderrPath)
      process.standardInput = FileHandle.nullDevice
      try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Waits up to `seconds` for `condition`, polling every millisecond.
    func wait(seconds: Double, until condition: () -> Bool) -> Bool {
      let deadline = Date().addingTimeInterval(seconds)
      while Date() < deadline {
        if condition() { return true }
        usleep(1000)
      }
      return condition()
    }

    /// Waits for the exit (killing the child after `seconds`): (status or signal, how it ended).
    func finish(seconds: Double = 120) -> (status: Int32, reason: Process.TerminationReason) {
      if !wait(seconds: seconds, until: { !process.isRunning }) {
        kill(pid, SIGKILL)
        process.waitUntilExit()
      }
      process.waitUntilExit()
      return (process.terminationStatus, process.terminationReason)
    }
  }

  /// `quanta synth --preset tiny` (a 1.3 MB llama, or 9 MB in F32), with `llama.context_length`
  /// set to `context` when given (the uint32 value after the key and its type id).
  static func tinyModel(_ path: String, type: String = "Q4_0", context: UInt32? = nil, in dir: TempDir) throws
  {
    let synth = try Child(["synth", "--arch", "llama", "--preset", "tiny", "--type", type, path], in: dir)
    let (status, _) = synth.finish()
    guard status == 0 else { throw Failure("synth failed: \(synth.stderr)") }
    guard let context else { return }
    var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    let key = Array("llama.context_length".utf8)
    guard
      let at = (0...(bytes.count - key.count)).first(where: { bytes[$0..<$0 + key.count].elementsEqual(key) })
    else { throw Failure("no llama.context_length in \(path)") }
    let value = at + key.count + 4
    withUnsafeBytes(of: context.littleEndian) { for i in 0..<4 { bytes[value + i] = $0[i] } }
    try Data(bytes).write(to: URL(fileURLWithPath: path))
  }

  /// §1: the 1.3 MB model with a 16M-token context, `-c 0`, under a 4 GiB address-space
  /// limit: refused with the sizes and the fix before the 24 GiB KV cache is allocated.
  @Test func hugeContextIsRefusedUnderAMemoryLimit() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let model = dir.file("ctx16m.gguf")
    try Self.tinyModel(model, context: 1 << 24, in: dir)
    let run = try Child(
      ["run", "-m", model, "-c", "0", "-p", "hi", "-n", "1"], addressSpaceKiB: 4 << 20, in: dir)
    let (status, reason) = run.finish()
    #expect(reason == .exit && status == 1, "ended by \(reason) \(status): \(run.stderr)")
    #expect(run.stderr.contains("Error: not enough memory on cpu: this model needs 24.01 GiB"))
    #expect(run.stderr.contains("KV cache 24.00 GiB for 16777216 tokens"))
    #expect(run.stderr.contains("lower it with -c (e.g. -c "))
    // The suggested context does fit under the same limit.
    let suggested = run.stderr.components(separatedBy: "(e.g. -c ").last?.prefix { $0.isNumber } ?? ""
    let retry = try Child(
      ["run", "-m", model, "-c", String(suggested), "-p", "hi", "-n", "1", "-t", "1"],
      addressSpaceKiB: 4 << 20,
      in: dir)
    let (retryStatus, _) = retry.finish()
    #expect(retryStatus == 0, "-c \(suggested) failed: \(retry.stderr)")
  }

  /// §3: the model file truncated while `run` generates: a message naming it and exit 1, not a
  /// silent SIGBUS (135).
  @Test func truncatedModelDuringRunIsReported() throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let model = dir.file("model.gguf")
    try Self.tinyModel(model, in: dir)
    let run = try Child(["run", "-m", model, "-p", "hi", "-n", "-1", "--ignore-eos", "-t", "2"], in: dir)
    #expect(run.wait(seconds: 60) { run.stdout.count > 20 }, "no output: \(run.stderr)")
    #expect(truncate(model, 4096) == 0)
    let (status, reason) = run.finish(seconds: 60)
    #expect(reason == .exit && status == 1, "ended by \(reason) \(status): \(run.stderr)")
    let message = "Error: the file \(model) was truncated or replaced while in use"
    #expect(run.stderr.components(separatedBy: message).count == 2, "\(run.stderr)")
  }

  /// Runs `body(dir, input, output)` with a 9 MB F32 tiny model as `input` in a fresh folder.
  static func withQuantizeInput(_ body: (TempDir, String, String) throws -> Void) throws {
    let dir = try TempDir()
    defer { dir.cleanup() }
    let input = dir.file("in-f32.gguf")
    try tinyModel(input, type: "F32", in: dir)
    try body(dir, input, dir.file("out.gguf"))
  }

  /// Starts `quanta quantize IN OUT Q4_K_M 1` and stops it as soon as its temporary output exists.
  static func stoppedQuantize(_ input: String, _ output: String, in dir: TempDir) throws -> (Child, String) {
    let q = try Child(["quantize", input, output, "Q4_K_M", "1"], in: dir)
    let temp =
      (output as NSString).deletingLastPathComponent + "/." + (output as NSString).lastPathComponent
      + ".tmp-\(q.pid)"
    guard q.wait(seconds: 60, until: { FileManager.default.fileExists(atPath: temp) }) else {
      _ = q.finish(seconds: 0)
      throw Failure("no temporary output appeared: \(q.stderr)")
    }
    kill(q.pid, SIGSTOP)
    return (q, temp)
  }

  /// §3: the input truncated while `quantize` converts it: reported, and no temporary file left.
  @Test func truncatedInputDuringQuantizeLeavesNothing() throws {
    try Self.withQuantizeInput { dir, input, output in
      let (q, temp) = try Self.stoppedQuantize(input, output, in: dir)
      #expect(truncate(input, 4096) == 0)
      kill(q.pid, SIGCONT)
      let (status, reason) = q.finish()
      #expect(reason == .exit && status == 1, "ended by \(reason) \(status): \(q.stderr)")
      #expect(
        q.stderr.contains("Error: the file \(input) was truncated or replaced while in use"), "\(q.stderr)")
      #expect(!FileManager.default.fileExists(atPath: temp))
      #expect(!FileManager.default.fileExists(atPath: output))
    }
  }

  /// §4: SIGHUP (a closed terminal) removes the temporary output as SIGINT/SIGTERM do, and the
  /// process still ends by the signal.
  @Test func hangupLeavesNoTemporaryFile() throws {
    try Self.withQuantizeInput { dir, input, output in
      let (q, temp) = try Self.stoppedQuantize(input, output, in: dir)
      kill(q.pid, SIGHUP)
      kill(q.pid, SIGCONT)
      let (status, reason) = q.finish()
      #expect(reason == .uncaughtSignal && status == SIGHUP, "ended by \(reason) \(status): \(q.stderr)")
      #expect(!FileManager.default.fileExists(atPath: temp))
      #expect(!FileManager.default.fileExists(atPath: output))
    }
  }

  /// §4: `quanta quantize … 2>&1 | head -1`: the reader goes away while quantize writes its
  /// progress; the next line hits a closed pipe (SIGPIPE) and no `.OUT.tmp-<pid>` is left. (The
  /// reader closes while quantize is stopped with its temporary file open, so the order is fixed.)
  @Test func closedPipeLeavesNoTemporaryFile() throws {
    try Self.withQuantizeInput { dir, input, output in
      let pipe = Pipe()
      let q = Process()
      q.executableURL = URL(fileURLWithPath: try Self.binary())
      q.arguments = ["quantize", input, output, "Q4_K_M", "1"]
      q.standardOutput = pipe.fileHandleForWriting
      q.standardError = pipe.fileHandleForWriting
      try q.run()
      try pipe.fileHandleForWriting.close()
      let temp = dir.file(".out.gguf.tmp-\(q.processIdentifier)")
      let deadline = Date().addingTimeInterval(60)
      while !FileManager.default.fileExists(atPath: temp) && q.isRunning && Date() < deadline { usleep(1000) }
      kill(q.processIdentifier, SIGSTOP)
      #expect(FileManager.default.fileExists(atPath: temp), "no temporary output appeared")
      try pipe.fileHandleForReading.close()  // `head -1` exits
      kill(q.processIdentifier, SIGCONT)
      q.waitUntilExit()
      #expect(
        q.terminationReason == .uncaughtSignal && q.terminationStatus == SIGPIPE,
        "ended by \(q.terminationReason) \(q.terminationStatus)")
      let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp-") }
      #expect(left.isEmpty, "left behind: \(left)")
      #expect(!FileManager.default.fileExists(atPath: output))
    }
  }

  /// §4: a temporary output of a process killed with SIGKILL is removed by the next quantize to
  /// the same output.
  @Test func killedQuantizesTemporaryFileGoesAtTheNextStart() throws {
    try Self.withQuantizeInput { dir, input, output in
      let (q, temp) = try Self.stoppedQuantize(input, output, in: dir)
      kill(q.pid, SIGKILL)
      _ = q.finish()
      #expect(FileManager.default.fileExists(atPath: temp), "SIGKILL cannot be handled: the file stays")
      let again = try Child(["quantize", input, output, "Q4_0"], in: dir)
      let (status, _) = again.finish()
      #expect(status == 0, "\(again.stderr)")
      #expect(!FileManager.default.fileExists(atPath: temp))
      #expect(FileManager.default.fileExists(atPath: output))
    }
  }
}

/// A fresh directory under the system temp dir, removed by `cleanup()`.
struct TempDir {
  let path: String

  init() throws {
    path = NSTemporaryDirectory() + "quanta-cli-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  }

  func file(_ name: String) -> String { path + "/" + name }
  func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}
