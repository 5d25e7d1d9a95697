@_exported import QuantaLM

extension LanguageModel {
  /// Loads a GGUF language model onto `device`, opened through the standard backend registry:
  /// `try await LanguageModel.load(path: "m.gguf", device: .cuda(0))`.
  ///
  /// - Parameters:
  ///   - path: A GGUF file.
  ///   - device: Where the weights go (`.cpu`, `.cuda(i)`, `.rocm(i)`).
  ///   - options: Context length, batch size and matmul settings.
  /// - Returns: The loaded model.
  /// - Throws: As `LanguageModel.load(path:device:registry:options:)`.
  public static func load(
    path: String, device: Device = .cpu, options: ModelLoadOptions = .init()
  ) async throws -> LanguageModel {
    try await load(path: path, device: device, registry: .standard, options: options)
  }
}
