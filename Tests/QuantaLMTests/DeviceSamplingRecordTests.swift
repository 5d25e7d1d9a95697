import Foundation
import QuantaCore
import Testing

@testable import QuantaLM

/// The host half of sampling on the device: the record a step uploads (`DeviceSampling`) and the
/// uniform it carries. The device half (sample.cu) is held against the host sampler by
/// scripts/gpu_emulate/sample_test.cpp and `quanta selftest` (SamplingSelftest).
@Suite struct DeviceSamplingRecordTests {
  static func logits(_ n: Int, seed: UInt64) -> [Float] {
    var s = SplitMix64(seed: seed)
    return (0..<n).map { _ in Float(s.nextDouble() * 8 - 4) }
  }

  static var optionSets: [SamplingOptions] {
    var sets: [SamplingOptions] = [SamplingOptions()]
    var o = SamplingOptions()
    o.topK = 0
    o.topP = 0.9
    sets.append(o)
    o = SamplingOptions()
    o.repeatPenalty = 1.3
    o.frequencyPenalty = 0.2
    o.presencePenalty = 0.1
    sets.append(o)
    o.temperature = 0
    sets.append(o)
    o = SamplingOptions()
    o.topK = 0
    o.topP = 1
    o.minP = 0.1
    o.temperature = 1.4
    sets.append(o)
    return sets
  }

  /// A step through the record draws what `sample` would draw: the same token from the same
  /// logits, and the same generator state after (20 steps in a row).
  @Test func recordedUniformGivesTheHostsPick() {
    for (k, options) in Self.optionSets.enumerated() {
      var o = options
      o.seed = UInt64(40 + k)
      var device = Sampler(o)
      var host = Sampler(o)
      var record = [Int32](repeating: 0, count: DeviceSampling.recordWords)
      for step in 0..<20 {
        let raw = Self.logits(3000, seed: UInt64(step * 7 + k))
        #expect(device.runsOnDevice(vocabularySize: raw.count))
        let u = record.withUnsafeMutableBufferPointer { device.fillDeviceRecord($0) }
        let a = raw.withUnsafeBufferPointer { device.sample($0, uniform: u!) }
        let b = host.sample(raw)
        #expect(a == b, "options \(k), step \(step)")
        device.accept(b)
        host.accept(b)
      }
    }
  }

  @Test func recordCarriesTheOptionsTheWindowAndTheUniform() {
    var o = SamplingOptions()
    o.topK = 33
    o.topP = 0.8
    o.minP = 0.07
    o.temperature = 0.6
    o.repeatPenalty = 1.25
    o.frequencyPenalty = 0.5
    o.presencePenalty = 0.75
    o.repeatLastN = 5
    o.seed = 99
    var sampler = Sampler(o)
    for t: Int32 in [9, 8, 7, 6, 5, 4, 3] { sampler.accept(t) }
    var record = [Int32](repeating: -1, count: DeviceSampling.recordWords)
    let u = record.withUnsafeMutableBufferPointer { sampler.fillDeviceRecord($0) }
    var rng = SplitMix64(seed: 99)
    #expect(u == rng.nextDouble())
    func float(_ i: Int) -> Float { Float(bitPattern: UInt32(bitPattern: record[i])) }
    #expect(record[DeviceSampling.topK] == 33)
    #expect(float(DeviceSampling.topP) == 0.8)
    #expect(float(DeviceSampling.minP) == 0.07)
    #expect(float(DeviceSampling.logMinP) == Foundation.log(Float(0.07)))
    #expect(float(DeviceSampling.temperature) == 0.6)
    #expect(float(DeviceSampling.repeatPenalty) == 1.25)
    #expect(float(DeviceSampling.frequencyPenalty) == 0.5)
    #expect(float(DeviceSampling.presencePenalty) == 0.75)
    // The last repeatLastN accepted tokens, oldest first; the rest of the window zero.
    #expect(record[DeviceSampling.windowCount] == 5)
    let h = DeviceSampling.headerWords
    #expect(Array(record[h..<(h + 5)]) == [7, 6, 5, 4, 3])
    #expect(record[(h + 5)...].allSatisfy { $0 == 0 })
    let low = UInt64(UInt32(bitPattern: record[DeviceSampling.uniform]))
    let high = UInt64(UInt32(bitPattern: record[DeviceSampling.uniform + 1]))
    #expect(Double(bitPattern: high << 32 | low) == u)
  }

  @Test func chainsTheDeviceDoesNotHoldStayOnTheHost() {
    func runs(_ body: (inout SamplingOptions) -> Void) -> Bool {
      var o = SamplingOptions()
      body(&o)
      return Sampler(o).runsOnDevice(vocabularySize: 1000)
    }
    #expect(runs { _ in })
    #expect(runs { $0.temperature = 0 })
    #expect(runs { $0.topK = 256 })
    #expect(!runs { $0.topK = 257 })
    #expect(runs { $0.topK = 2000 })  // past the vocabulary: top-p / min-p over the row
    #expect(
      !runs { o in
        o.topK = 0; o.topP = 1; o.minP = 0
      })  // nothing truncates
    #expect(!runs { $0.logitBias = [3: 1] })
    #expect(!runs { $0.dryMultiplier = 0.8 })
    #expect(!runs { $0.xtcProbability = 0.5 })
    #expect(!runs { $0.typicalP = 0.9 })
  }

  /// A window longer than the record holds: nothing is written or drawn, so the host's `sample`
  /// draws what it would have.
  @Test func longWindowIsRefusedWithoutDrawing() {
    var o = SamplingOptions()
    o.repeatPenalty = 1.1
    o.repeatLastN = -1
    var a = Sampler(o, contextLength: 4096)
    var b = a
    for t in 0..<Int32(DeviceSampling.windowCapacity + 1) {
      a.accept(t % 50)
      b.accept(t % 50)
    }
    var record = [Int32](repeating: 7, count: DeviceSampling.recordWords)
    #expect(record.withUnsafeMutableBufferPointer { a.fillDeviceRecord($0) } == nil)
    #expect(record.allSatisfy { $0 == 7 })
    let raw = Self.logits(500, seed: 3)
    #expect(a.sample(raw) == b.sample(raw))
  }
}
