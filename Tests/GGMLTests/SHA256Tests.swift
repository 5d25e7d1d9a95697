import GGML
import Testing

/// FIPS 180-2 appendix B's vectors (and the empty message), the digests as published there.
@Suite struct SHA256Tests {
  @Test func oneShotVectors() {
    #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    #expect(
      SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    // 448 bits: the padding spills into a second block.
    #expect(
      SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
        == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
  }

  /// One million 'a', fed in uneven pieces so the block buffering is exercised, and in one piece.
  @Test func oneMillionAInPieces() {
    let expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
    let a = [UInt8](repeating: 0x61, count: 1_000_000)
    var h = SHA256()
    var i = 0
    var step = 1
    while i < a.count {
      let n = min(step, a.count - i)
      h.update(Array(a[i..<i + n]))
      i += n
      step = step * 3 % 1000 + 1
    }
    #expect(h.hexDigest() == expected)
    #expect(SHA256.hex(a) == expected)
  }

  /// Finalizing reads a copy: the hasher can go on after a digest is taken.
  @Test func digestDoesNotConsumeTheState() {
    var h = SHA256()
    h.update(Array("ab".utf8))
    _ = h.hexDigest()
    h.update(Array("c".utf8))
    #expect(h.hexDigest() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  }
}
