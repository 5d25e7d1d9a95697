/// The architectures Quanta runs, by `general.architecture`. Adding one: a new file declaring
/// `static let name = ArchitectureDeclaration(…)` (see `Llama.swift`) and a line here.
public enum ArchitectureRegistry {
  public static let all: [ArchitectureDeclaration] = [
    .llama,
    .qwen2,
    .qwen3,
    .gemma3,
    .phi3,
    .gemma2,
  ]

  /// The architecture called `name`, nil when none is registered.
  public static func named(_ name: String) -> ArchitectureDeclaration? {
    all.first { $0.rawValue == name }
  }
}
