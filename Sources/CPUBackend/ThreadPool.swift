import QuantaCore
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A fixed pool of worker threads, created once and reused by every op (no per-call thread creation).
///
/// `parallelFor(tasks:)` hands task indices out through an atomic counter, so a thread that finishes
/// early takes more and both cores stay busy even when one is shared with other processes. The caller
/// runs tasks too; `threadCount` counts it. Between jobs, workers spin briefly on the job counter
/// (decode issues small mat-vecs back to back, and waking a parked thread costs tens of µs), then
/// park on a condition variable so an idle pool costs nothing.
final class ThreadPool: Sendable {
  let threadCount: Int
  private let shared: Shared
  private let threads: ThreadList

  /// Starts `threadCount − 1` workers. A worker that cannot be started (EAGAIN under a process or
  /// thread limit, ENOMEM) is an error naming how many started: the workers already running are
  /// stopped and joined, and nothing is left behind. `spawn` is `pthread_create` (tests inject a
  /// failure).
  init(
    threadCount: Int,
    spawn: (
      UnsafeMutablePointer<pthread_t>, @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer?,
      UnsafeMutableRawPointer
    ) -> Int32 = { pthread_create($0, nil, $1, $2) }
  ) throws {
    self.threadCount = max(1, threadCount)
    shared = Shared()
    var started: [pthread_t] = []
    for index in 1..<self.threadCount {
      let context = Unmanaged.passRetained(WorkerContext(shared: shared, index: index)).toOpaque()
      var thread = pthread_t()
      let rc = spawn(
        &thread,
        { raw in
          let ctx = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
          ctx.shared.workerLoop(index: ctx.index)
          return nil
        }, context)
      if rc == 0 {
        started.append(thread)
      } else {
        Unmanaged<WorkerContext>.fromOpaque(context).release()
        shared.stop()
        for t in started { pthread_join(t, nil) }
        throw QuantaError.invalidArgument(
          op: "CPUBackend",
          reason:
            "cannot start CPU thread \(index + 1) of \(self.threadCount) (\(started.count + 1) running): "
            + "\(String(cString: strerror(rc))); use fewer threads (-t)")
      }
    }
    threads = ThreadList(started)
    shared.workerCount = started.count
  }

  deinit {
    shared.stop()
    for t in threads.handles { pthread_join(t, nil) }
  }

  /// Threads that actually run tasks: the caller plus the workers that started.
  var activeThreads: Int { threads.handles.count + 1 }

  /// Runs `body(task, thread)` for every task in `0..<tasks`, `thread` in `0..<activeThreads` (the
  /// index of the running thread: per-thread scratch). Returns when all tasks are done.
  func parallelFor(tasks: Int, _ body: (_ task: Int, _ thread: Int) -> Void) {
    guard tasks > 0 else { return }
    if tasks == 1 || threads.handles.isEmpty || !shared.run(tasks: tasks, body) {
      // One task, no workers, or the pool is busy (another caller, or a nested call from inside a
      // job): run inline as thread 0 of a private job rather than wait.
      for t in 0..<tasks { body(t, 0) }
    }
  }

  /// `parallelFor` over `0..<count` in chunks of `chunk`: `body(range, thread)`.
  func parallelFor(count: Int, chunk: Int, _ body: (_ range: Range<Int>, _ thread: Int) -> Void) {
    let chunk = max(1, chunk)
    let tasks = (count + chunk - 1) / chunk
    parallelFor(tasks: tasks) { t, thread in
      body(t * chunk..<min(count, (t + 1) * chunk), thread)
    }
  }

  /// A chunk size giving about `perThread` chunks per thread, at least `minimum`, a multiple of
  /// `multiple`.
  func chunk(for count: Int, perThread: Int = 4, minimum: Int = 1, multiple: Int = 1) -> Int {
    let target = max(minimum, (count + activeThreads * perThread - 1) / (activeThreads * perThread))
    return (target + multiple - 1) / multiple * multiple
  }
}

/// pthread handles, fixed after init.
private struct ThreadList: @unchecked Sendable {
  // @unchecked: written once in ThreadPool.init, read-only afterwards (joined in deinit).
  let handles: [pthread_t]
  init(_ handles: [pthread_t]) { self.handles = handles }
}

private final class WorkerContext {
  let shared: Shared
  let index: Int
  init(shared: Shared, index: Int) {
    self.shared = shared
    self.index = index
  }
}

/// The state workers share with the pool (workers retain this, not the pool, so the pool's deinit
/// can stop and join them).
///
/// `@unchecked Sendable`: the job fields (`body`, `taskCount`) are written only by the caller that
/// holds `callerLock`, before it publishes the job with a releasing increment of `generation`, and
/// read by workers after an acquiring load of it; the caller clears them only after every worker
/// has signalled completion through `remaining` (release/acquire). `sleepers` and the condition
/// variable are protected by `mutex`; `workerCount` is set once before any job.
private final class Shared: @unchecked Sendable {
  let generation = Atomic<Int>(0)
  let remaining = Atomic<Int>(0)
  let nextTask = Atomic<Int>(0)
  let stopping = Atomic<Bool>(false)
  var body: ((Int, Int) -> Void)?
  var taskCount = 0
  var workerCount = 0
  let mutex: UnsafeMutablePointer<pthread_mutex_t>
  let condition: UnsafeMutablePointer<pthread_cond_t>
  var sleepers = 0
  let callerLock = Mutex(())

  /// Spins (atomic loads) before a worker parks: some tens of µs on current x86 cores.
  static let spinLimit = 1 << 15

  init() {
    mutex = .allocate(capacity: 1)
    condition = .allocate(capacity: 1)
    pthread_mutex_init(mutex, nil)
    pthread_cond_init(condition, nil)
  }

  deinit {
    pthread_cond_destroy(condition)
    pthread_mutex_destroy(mutex)
    mutex.deallocate()
    condition.deallocate()
  }

  func stop() {
    stopping.store(true, ordering: .releasing)
    wake()
  }

  private func wake() {
    generation.add(1, ordering: .releasing)
    pthread_mutex_lock(mutex)
    if sleepers > 0 { pthread_cond_broadcast(condition) }
    pthread_mutex_unlock(mutex)
  }

  /// Runs a job on all threads; false (nothing run) when another job holds the pool.
  func run(tasks: Int, _ body: (Int, Int) -> Void) -> Bool {
    let ran: Void? = callerLock.withLockIfAvailable { _ in
      withoutActuallyEscaping(body) { escapable in
        self.body = escapable
        taskCount = tasks
        nextTask.store(0, ordering: .relaxed)
        remaining.store(workerCount, ordering: .relaxed)
        wake()
        runTasks(thread: 0)
        var spins = 0
        while remaining.load(ordering: .acquiring) > 0 {
          spins += 1
          // A worker that had parked needs the OS to run it; stop burning the core it may need.
          if spins > 1 << 12 { sched_yield() }
        }
        self.body = nil
      }
    }
    return ran != nil
  }

  private func runTasks(thread: Int) {
    guard let body else { return }
    while true {
      let t = nextTask.add(1, ordering: .relaxed).oldValue
      if t >= taskCount { break }
      body(t, thread)
    }
  }

  func workerLoop(index: Int) {
    var seen = 0
    while true {
      var g = generation.load(ordering: .acquiring)
      var spins = 0
      while g == seen && spins < Self.spinLimit {
        spins += 1
        g = generation.load(ordering: .acquiring)
      }
      if g == seen {
        pthread_mutex_lock(mutex)
        sleepers += 1
        g = generation.load(ordering: .acquiring)
        while g == seen {
          pthread_cond_wait(condition, mutex)
          g = generation.load(ordering: .acquiring)
        }
        sleepers -= 1
        pthread_mutex_unlock(mutex)
      }
      seen = g
      if stopping.load(ordering: .acquiring) { return }
      runTasks(thread: index)
      remaining.subtract(1, ordering: .releasing)
    }
  }
}
