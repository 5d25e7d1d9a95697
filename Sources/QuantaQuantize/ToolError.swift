import GGML
import GGUF

/// Errors of the `quanta` tools. Each carries the facts needed to act on it (which tensor, which
/// type, which path), and prints as one line.
public enum QuantaToolError: Error, Equatable, Sendable, CustomStringConvertible {
  case unknownQuantizationType(String)
  case notAFileType(GGMLType)
  case outputIsInput(String)
  case invalidThreadCount(Int)
  case noQuantizer(type: GGMLType, tensor: String)
  case noDequantizer(type: GGMLType, tensor: String)
  case cannotConvert(from: GGMLType, tensor: String)
  case noFallback(type: GGMLType, tensor: String, columns: Int)
  case requiresImportanceMatrix(tensor: String, type: GGMLType)
  case layerUnknown(tensor: String, layerCount: Int)
  case io(path: String, operation: String, errno: Int32)
  case verificationFailed(path: String, reason: String)
  case unknownBenchType(String)
  case invalidArgument(String)
  /// The input of `quantize` fails the model checks `run` applies (RELIABILITY.md A14).
  case invalidModel(path: String, error: GGUFError)

  public var description: String {
    switch self {
    case .unknownQuantizationType(let s):
      return "unknown quantization type '\(s)'; expected one of: "
        + LlamaFileType.acceptedNames.joined(separator: ", ")
    case .notAFileType(let t):
      return "\(t) is a ggml type but not a llama.cpp file type (no general.file_type value exists for it)"
    case .outputIsInput(let p):
      return "output path is the input file (\(p)); the input is never overwritten"
    case .invalidThreadCount(let n):
      return "thread count must be at least 1, got \(n)"
    case .noQuantizer(let t, let name):
      return "no quantizer for type \(t) (needed by tensor \(name))"
    case .noDequantizer(let t, let name):
      return "no dequantizer for type \(t) (needed to read tensor \(name))"
    case .cannotConvert(let t, let name):
      return "cannot convert tensor \(name) of type \(t) to f32"
    case .noFallback(let t, let name, let cols):
      return
        "tensor \(name): \(cols) columns is not a multiple of the \(t) block size \(t.blockSize) and \(t) has no fallback type"
    case .requiresImportanceMatrix(let name, let t):
      return
        "tensor \(name) would be \(t), which needs an importance matrix; quanta quantize has none (choose another type)"
    case .layerUnknown(let name, let n):
      return "cannot tell the layer of tensor \(name) (expected blk.N. with N < \(n))"
    case .io(let path, let op, let code):
      return "\(op) \(path): \(String(cString: strerror(code)))"
    case .verificationFailed(let path, let reason):
      return "written file \(path) failed verification: \(reason)"
    case .unknownBenchType(let s):
      return "unknown type '\(s)' for bench"
    case .invalidArgument(let s):
      return s
    case .invalidModel(let path, let error):
      return "\(path) is not a valid model (\(error)); --allow-invalid quantizes it anyway"
    }
  }
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif
