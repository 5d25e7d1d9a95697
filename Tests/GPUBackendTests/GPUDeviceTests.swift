import Foundation
import GGML
import GPUKernels
import QuantaCore
import Testing

@testable import GPUBackend

@Suite("GPU devices and faults (no GPU)")
struct GPUDeviceTests {
  /// CI check (c): with the HIP runtime installed and no AMD GPU, the probe says "no AMD device"
  /// cleanly (runtime loaded, zero devices, typed reason).
  @Test func hipRuntimeWithoutGPUSaysNoAMDDevice() throws {
    let report = GPUDevices.probe(.hip)
    #expect(report.runtime != nil, "HIP runtime did not load: \(String(describing: report.unavailable))")
    #expect(report.devices.isEmpty)
    guard case .noDevice(let vendor, _, _) = report.unavailable else {
      Issue.record("expected .noDevice, got \(String(describing: report.unavailable))")
      return
    }
    #expect(vendor == .hip)
    let text = GPUDevices.describe(report).joined(separator: "\n")
    #expect(text.contains("rocm: unavailable: no AMD device"))
  }

  @Test func openingRocmWithoutGPUThrowsTyped() {
    let r = Result { () throws(GPUError) in try GPUBackend(device: .rocm(0)) }
    guard case .failure(.noDevice(.hip, _, _)) = r else {
      Issue.record("expected .noDevice(.hip), got \(r)")
      return
    }
  }

  @Test func missingLibraryNamesWhatWasSearched() {
    let r1 = Result { () throws(GPUError) in
      try DynamicLibrary.open(
        "X", candidates: ["libquanta-none-1.so", "/nonexistent/libquanta-none-2.so"], override: nil)
    }
    guard case .failure(.libraryNotFound(let lib, let searched, let messages)) = r1 else {
      Issue.record("expected .libraryNotFound")
      return
    }
    #expect(lib == "X")
    #expect(searched == ["libquanta-none-1.so", "/nonexistent/libquanta-none-2.so"])
    #expect(messages.count == 2)
    #expect(messages.first?.contains("libquanta-none-1.so") == true)
    // An override replaces the search list.
    let r2 = Result { () throws(GPUError) in
      try DynamicLibrary.open("X", candidates: ["libc.so.6"], override: "/nonexistent/override.so")
    }
    guard case .failure(.libraryNotFound(_, let searched2, _)) = r2 else {
      Issue.record("override ignored")
      return
    }
    #expect(searched2 == ["/nonexistent/override.so"])
  }

  /// Issue 16: one short line per cause, each path once.
  @Test func missingLibraryMessageNamesEachPathOnce() {
    let text = GPUError.notFoundText(
      library: "CUDA driver (libcuda)", searched: ["libcuda.so.1", "/opt/x/libcuda.so.1", "/lib/libcuda.so"],
      loaderMessages: [
        "libcuda.so.1: cannot open shared object file: No such file or directory",
        "/opt/x/libcuda.so.1: wrong ELF class: ELFCLASS32",
        "/lib/libcuda.so: cannot open shared object file: No such file or directory",
      ])
    #expect(
      text
        == "CUDA driver (libcuda) not found (searched libcuda.so.1, /lib/libcuda.so); "
        + "did not load: /opt/x/libcuda.so.1: wrong ELF class: ELFCLASS32")
    let r = Result { () throws(GPUError) in
      try DynamicLibrary.open(
        "X", candidates: ["libquanta-none-1.so", "/nonexistent/libquanta-none-2.so"], override: nil)
    }
    guard case .failure(let error) = r else {
      Issue.record("expected a failure")
      return
    }
    #expect(
      error.description == "X not found (searched libquanta-none-1.so, /nonexistent/libquanta-none-2.so)")
  }

  @Test func unsupportedAndOOMMapToTheContractErrors() {
    let d = Device.rocm(1)
    #expect(
      GPUError.outOfMemory(vendor: .hip, device: 1, requestedBytes: 10, freeBytes: 4).asQuantaError(device: d)
        == .outOfMemory(device: d, requestedBytes: 10, freeBytes: 4))
    #expect(
      GPUError.unsupported(op: "rope", type: "f32", device: "rocm:1").asQuantaError(device: d)
        == .unsupported(op: "rope", type: "f32", device: d))
    #expect(
      GPUError.noDevice(vendor: .hip, reason: "r", visibleDevices: "").description.hasPrefix("no AMD device"))
  }

  @Test func warpSizeAndCapabilitiesFromArchitecture() {
    #expect(KernelBuild.warpSize(forArchitecture: "gfx906") == 64)
    #expect(KernelBuild.warpSize(forArchitecture: "gfx90a:sramecc+:xnack-") == 64)
    #expect(KernelBuild.warpSize(forArchitecture: "gfx940") == 64)
    #expect(KernelBuild.warpSize(forArchitecture: "gfx1030") == 32)
    #expect(KernelBuild.warpSize(forArchitecture: "gfx1100") == 32)
    #expect(KernelBuild.warpSize(forArchitecture: "sm_90") == 32)
    #expect(KernelBuild.warpSize(forArchitecture: "x86") == nil)
    #expect(GPUArchitecture.capabilities(architecture: "gfx90a").contains(.matrixCores))
    #expect(GPUArchitecture.capabilities(architecture: "gfx1030").contains(.dp4a))
    #expect(!GPUArchitecture.capabilities(architecture: "gfx900").contains(.dp4a))
    #expect(GPUArchitecture.capabilities(architecture: "sm_90").isSuperset(of: [.dp4a, .matrixCores, .bf16]))
  }

  @Test func kernelArgumentsPackOneSlotEach() throws {
    var a = KernelArguments()
    a.append(DevicePointer(0x1234_5678_9abc))
    a.append(Int32(-2))
    a.append(Float(1.5))
    a.append(Int64(-3))
    #expect(a.count == 4)
    try a.withParameterPointers { p in
      #expect(p[0]!.load(as: UInt64.self) == 0x1234_5678_9abc)
      #expect(p[1]!.load(as: Int32.self) == -2)
      #expect(p[2]!.load(as: Float.self) == 1.5)
      #expect(p[3]!.load(as: Int64.self) == -3)
    }
  }

  @Test func poolSizeClasses() {
    #expect(GPUContext.sizeClass(1) == 256)
    #expect(GPUContext.sizeClass(257) == 512)
    #expect(GPUContext.sizeClass(1 << 20) == 1 << 20)
    #expect(GPUContext.sizeClass((1 << 20) + 1) == 2 << 20)
    #expect(GPUContext.sizeClass(5_000_000) == 5 << 20)
  }

  /// The embedded kernel text equals the files under Sources/GPUKernels/kernels (regenerate with
  /// scripts/gen_gpu_kernels.py), and the type list matches quants.cuh's QTYPE_LIST.
  @Test func embeddedKernelSourcesAreUpToDate() throws {
    let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("Sources/GPUKernels/kernels")
    let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix(".") }
    #expect(Set(names) == Set(KernelSources.files.keys))
    for name in names {
      let text = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
      #expect(
        KernelSources.files[name] == text,
        "\(name) differs from the embedded copy: run scripts/gen_gpu_kernels.py")
    }
    let quants = try #require(KernelSources.files["quants.cuh"])
    let listed = quants.split(separator: "\n").compactMap { line -> String? in
      let t = line.trimmingCharacters(in: .whitespaces)
      guard t.hasPrefix("X("), let comma = t.firstIndex(of: ",") else { return nil }
      return String(t[t.index(t.startIndex, offsetBy: 2)..<comma])
    }
    #expect(listed == KernelBuild.types.map(\.name))
    for t in KernelBuild.types {
      let line = try #require(quants.split(separator: "\n").first { $0.contains("X(\(t.name),") })
      #expect(
        line.contains("\(t.blockSize), \(t.typeSize),"),
        "\(t.name): block size / bytes disagree with GGMLType")
    }
  }

  /// The kernels' `__constant__` tables are printed from the C arrays at run time: every table is
  /// declared once with its count, and the printed values read back equal the arrays (signed tables in
  /// decimal, grids in full-width hex). Anchors from ggml-common.h guard the arrays themselves.
  @Test func kernelTablesArePrintedFromTheCArrays() throws {
    let source = KernelBuild.source(vendor: .cuda, warpSize: 32)
    #expect(KernelSources.commonOrder.contains(KernelSources.tablesPart))
    #expect(KernelSources.files[KernelSources.tablesPart] == nil, "the tables must not be embedded as a file")
    for table in IQTable.all {
      let head =
        "static __constant__ \(table.isSigned ? "s" : "u")\(table.bits) \(table.name)[\(table.values.count)] = {"
      let parts = source.components(separatedBy: head)
      try #require(parts.count == 2, "\(table.name) declared \(parts.count - 1) times")
      let body = try #require(parts[1].components(separatedBy: "};").first)
      let printed = body.split(whereSeparator: { ", \n".contains($0) }).map { cell -> Int64? in
        let t = cell.replacingOccurrences(of: "ull", with: "").replacingOccurrences(of: "u", with: "")
        return t.hasPrefix("0x") ? UInt64(t.dropFirst(2), radix: 16).map { Int64(bitPattern: $0) } : Int64(t)
      }
      #expect(printed == table.values.map { $0 }, "\(table.name) printed differently")
    }
    let grid = try #require(IQTable.all.first { $0.name == "iq2xxs_grid" })
    #expect(grid.values.prefix(2) == [0x0808_0808_0808_0808, 0x0808_0808_0808_082b])
    let iq1s = try #require(IQTable.all.first { $0.name == "iq1s_grid" })
    #expect(iq1s.values.count == 2048 && iq1s.values.last == 0x0101_0101_0101_0101)
    let levels = try #require(IQTable.all.first { $0.name == "kvalues_iq4nl" })
    #expect(levels.values == [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113])
  }
}
