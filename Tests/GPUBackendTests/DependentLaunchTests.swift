import Testing

@testable import GPUBackend

/// Programmatic dependent launches (GPUBackend.Configuration.dependentLaunches): the launch structs
/// and the kernel source the context builds for them.
@Suite("Dependent launches: cuLaunchKernelEx structs, kernel source")
struct DependentLaunchTests {
  /// cuLaunchKernelEx reads CUlaunchConfig and CUlaunchAttribute through a pointer: the Swift mirrors
  /// must have cuda.h's field offsets (x86-64 and aarch64 Linux, the ABI the driver is built for).
  @Test func launchConfigOffsets() {
    #expect(MemoryLayout<CUlaunchConfig>.offset(of: \.gridDimX) == 0)
    #expect(MemoryLayout<CUlaunchConfig>.offset(of: \.blockDimX) == 12)
    #expect(MemoryLayout<CUlaunchConfig>.offset(of: \.sharedMemBytes) == 24)
    #expect(MemoryLayout<CUlaunchConfig>.offset(of: \.hStream) == 32)
    #expect(MemoryLayout<CUlaunchConfig>.offset(of: \.attrs) == 40)
    #expect(MemoryLayout<CUlaunchConfig>.offset(of: \.numAttrs) == 48)
    #expect(MemoryLayout<CUlaunchConfig>.stride == 56)
  }

  @Test func launchAttributeOffsets() {
    #expect(MemoryLayout<CUlaunchAttribute>.offset(of: \.id) == 0)
    #expect(MemoryLayout<CUlaunchAttribute>.offset(of: \.value) == 8)
    #expect(MemoryLayout<CUlaunchAttribute>.stride == 72)
  }

  /// The waits are compiled only into the module built for dependent launches; the plain module's
  /// text has no QK_DEPENDENT_LAUNCH define (so its kernels are those of plain stream order).
  @Test func sourceDefinesTheWaitOnlyForDependentLaunches() {
    let plain = KernelBuild.source(vendor: .cuda, warpSize: 32)
    let dependent = KernelBuild.source(vendor: .cuda, warpSize: 32, dependentLaunch: true)
    #expect(!plain.contains("#define QK_DEPENDENT_LAUNCH"))
    #expect(dependent.hasPrefix("#define QK_DEPENDENT_LAUNCH 1\n"))
    #expect(dependent.hasSuffix(plain))
    #expect(plain.contains("griddepcontrol.wait"))  // guarded by #if defined(QK_DEPENDENT_LAUNCH)
  }
}
