// swift-tools-version:6.1
// libFuzzer target for the GGUF and legacy GGML readers. Build and run with scripts/fuzz.sh
// (it passes -sanitize=fuzzer,address); a plain `swift build` here does not link libFuzzer.
import PackageDescription

let package = Package(
  name: "QuantaFuzz",
  dependencies: [.package(name: "Quanta", path: "..")],
  targets: [
    .target(name: "FuzzerDriver"),
    .executableTarget(
      name: "GGUFFuzz",
      dependencies: ["FuzzerDriver", .product(name: "GGUF", package: "Quanta")]
    ),
  ]
)
