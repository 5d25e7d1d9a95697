import GGUF
import QuantaFiles
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// The CLI's SIGBUS handler. Models are memory-mapped: when a model file is truncated while it is in
/// use (or overwritten by a tool that truncates it first), the next read of a page past the new end
/// raises SIGBUS, which would end the process with status 135 and no word. The handler names the
/// file (`MappedRegions`), removes the temporary files being written (`SignalCleanup`), and exits
/// with status 1 (as any other error). A SIGBUS at an address outside the model maps is reported
/// as such and re-raised with the default action.
///
/// Only async-signal-safe calls run in the handler: `write`, `unlink`, `strlen`, `_exit`, `signal`,
/// `raise`, `pause`, and a lock-free atomic. What it cannot catch: a file replaced in place by same-size bytes (no fault: the new
/// bytes are read as weights) — see the README's reliability section.
public enum FatalSignals {
  /// Installs the handler (once, at the CLI's start).
  public static func install() {
    // Statics the handler reads are initialized here, not lazily inside the handler.
    MappedRegions.prepare()
    _ = SignalCleanup.paths
    _ = reporting.load(ordering: .relaxed)
    var action = sigaction()
    #if canImport(Darwin)
      action.__sigaction_u.__sa_sigaction = busHandler
    #else
      action.__sigaction_handler.sa_sigaction = busHandler
    #endif
    action.sa_flags = SA_SIGINFO
    sigemptyset(&action.sa_mask)
    sigaction(SIGBUS, &action, nil)
  }

  /// Exit status after a reported SIGBUS on a model file.
  public static let exitStatus: Int32 = 1

  /// Set by the first thread that faults: several pool threads reading the same truncated map fault
  /// together, and only one reports (a lock-free atomic: async-signal-safe).
  static let reporting = Atomic<Bool>(false)
}

/// Writes `s` to stderr (async-signal-safe: no allocation).
private func say(_ s: StaticString) {
  _ = write(2, s.utf8Start, s.utf8CodeUnitCount)
}

private func busHandler(
  _ sig: Int32, _ info: UnsafeMutablePointer<siginfo_t>?, _ context: UnsafeMutableRawPointer?
) {
  #if canImport(Darwin)
    let address = UnsafeRawPointer(info?.pointee.si_addr)
  #else
    let address = UnsafeRawPointer(info?.pointee._sifields._sigfault.si_addr)
  #endif
  guard
    FatalSignals.reporting.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing)
      .exchanged
  else {
    while true { pause() }  // the first thread reports and exits the process
  }
  SignalCleanup.unlinkAll()
  guard let path = MappedRegions.path(containing: address) else {
    say("\nError: bus error (SIGBUS) outside the memory-mapped model files\n")
    signal(SIGBUS, SIG_DFL)
    raise(SIGBUS)  // delivered with the default action when this handler returns
    return
  }
  say("\nError: the file ")
  _ = write(2, path, strlen(path))
  say(
    " was truncated or replaced while in use (a page of its memory map is gone: SIGBUS); stopped. Do not modify a model file while quanta reads it.\n"
  )
  _exit(FatalSignals.exitStatus)
}
