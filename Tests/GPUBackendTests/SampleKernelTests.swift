import Foundation
import GPUKernels
import QuantaCore
import Testing

@testable import GPUBackend

/// Device sampling without a GPU: the record layout and geometry the host uses are sample.cu's
/// numbers, and the kernel is listed. The kernel's picks: scripts/gpu_emulate/sample_test.cpp (CPU
/// emulation at wave32 and wave64 against a port of the host sampler) and `quanta selftest --device D`
/// (SamplingSelftest: the device against the host's `Sampler`).
@Suite("GPU sampling kernel (no GPU)")
struct SampleKernelTests {
  @Test func hostLayoutIsTheKernelSource() throws {
    let text = try #require(KernelSources.files["sample.cu"])
    let define = { (name: String) in ExpertKernelsTests.define(name, in: text) }
    #expect(define("SAMPLE_THREADS") == SampleGeometry.threads)
    #expect(define("SAMPLE_SLICE") == SampleGeometry.slice)
    #expect(define("SAMPLE_MAX_PARTS") == SampleGeometry.maxParts)
    #expect(define("SAMPLE_KMAX") == DeviceSampling.maxCandidates)
    #expect(define("SAMPLE_WINDOW") == DeviceSampling.windowCapacity)
    #expect(define("SAMPLE_HEADER") == DeviceSampling.headerWords)
    #expect(text.contains("#define SAMPLE_RECORD (SAMPLE_HEADER + SAMPLE_WINDOW)"))
    #expect(define("SP_TOP_K") == DeviceSampling.topK)
    #expect(define("SP_TOP_P") == DeviceSampling.topP)
    #expect(define("SP_MIN_P") == DeviceSampling.minP)
    #expect(define("SP_LOG_MIN_P") == DeviceSampling.logMinP)
    #expect(define("SP_TEMPERATURE") == DeviceSampling.temperature)
    #expect(define("SP_REPEAT") == DeviceSampling.repeatPenalty)
    #expect(define("SP_FREQUENCY") == DeviceSampling.frequencyPenalty)
    #expect(define("SP_PRESENCE") == DeviceSampling.presencePenalty)
    #expect(define("SP_WINDOW_COUNT") == DeviceSampling.windowCount)
    #expect(define("SP_UNIFORM") == DeviceSampling.uniform)
    #expect(DeviceSampling.uniform + 2 <= DeviceSampling.headerWords)
    // The block sort covers a slice: a power of two, and the keys (8 bytes each) fit 48 KB of
    // static shared memory with the reduction arrays.
    #expect(SampleGeometry.slice & (SampleGeometry.slice - 1) == 0)
    #expect(8 * SampleGeometry.slice + 12 * SampleGeometry.threads <= 48 * 1024)
    #expect(DeviceSampling.maxCandidates <= SampleGeometry.slice / 2)
  }

  @Test func kernelIsListedAndDefined() {
    #expect(KernelBuild.kernelNames.contains("sample_f32"))
    #expect(KernelBuild.source(vendor: .cuda, warpSize: 32).contains(" sample_f32("))
    #expect(KernelBuild.source(vendor: .hip, warpSize: 64).contains("__fdiv_rn"))
  }

  @Test func scratchCoversEveryPart() {
    // Gemma 3's vocabulary: 64 CTAs per row; a row's scratch holds each CTA's stats and keys.
    #expect(SampleGeometry.parts(262_144) == 64)
    #expect(SampleGeometry.parts(4097) == 2)
    #expect(SampleGeometry.parts(1) == 1)
    #expect(
      SampleGeometry.scratchBytes(rows: 3, n: 4097)
        == 16 + 3 * 2 * (SampleGeometry.statBytes + 8 * DeviceSampling.maxCandidates))
  }
}
