import CPUKernels

/// A CPU instruction set the kernels can be forced to (`CPUBackend.Configuration.instructionSet`:
/// tests, `quanta bench matmul --isa`). Raw values match the names CPUKernels reports.
public enum CPUInstructionSet: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
  case scalar, avx2, avx512, avx512VNNI = "avx512_vnni", neon
  public var description: String { rawValue }
}

extension CPUInstructionSet {
  init(_ isa: qk_isa) {
    switch isa {
    case QK_ISA_AVX2: self = .avx2
    case QK_ISA_AVX512: self = .avx512
    case QK_ISA_AVX512_VNNI: self = .avx512VNNI
    case QK_ISA_NEON: self = .neon
    default: self = .scalar
    }
  }

  var qkISA: qk_isa {
    switch self {
    case .scalar: QK_ISA_SCALAR
    case .avx2: QK_ISA_AVX2
    case .avx512: QK_ISA_AVX512
    case .avx512VNNI: QK_ISA_AVX512_VNNI
    case .neon: QK_ISA_NEON
    }
  }
}
