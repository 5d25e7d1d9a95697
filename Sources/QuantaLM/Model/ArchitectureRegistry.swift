import GGUF

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
    .qwen3moe,
    .gptOss,
  ]

  /// Mixture-of-experts tables of a name `all` holds densely: a file with `{name}.expert_count`
  /// > 0 is read with these (Mixtral is `llama` with experts).
  public static let expertVariants: [ArchitectureDeclaration] = [
    .mixtral
  ]

  /// The architecture called `name`, nil when none is registered.
  public static func named(_ name: String) -> ArchitectureDeclaration? {
    all.first { $0.rawValue == name }
  }

  /// The declaration of a file called `name` with `metadata`: the expert variant when the file
  /// declares experts (`{name}.expert_count` > 0), else the registered one.
  public static func named(_ name: String, metadata: GGUFMetadata) throws -> ArchitectureDeclaration? {
    if let variant = expertVariants.first(where: { $0.rawValue == name }),
      let count = try metadata.optionalInt("\(name).expert_count"), count > 0
    {
      return variant
    }
    return named(name)
  }

  /// The declaration of `name` with experts or without (synth's `--experts`).
  public static func named(_ name: String, experts: Bool) -> ArchitectureDeclaration? {
    experts ? (all + expertVariants).first { $0.rawValue == name && $0.hasExperts } : named(name)
  }
}
