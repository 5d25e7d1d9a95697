@_exported import QuantaLM

extension LanguageModel {
  /// Loads a GGUF language model onto `device`, opened through the standard backend registry:
  /// `try await LanguageModel.load(path: "m.gguf", device: .cuda(0))`.
  public static func load(
    path: String, device: Device = .cpu, options: ModelLoadOptions = .init()
  ) async throws -> LanguageModel {
    try await load(path: path, device: device, registry: .standard, options: options)
  }
}
