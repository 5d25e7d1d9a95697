/// Legacy llama.cpp containers (GGML, GGMF v1, GGJT v1–v3). Filled in below.
struct LegacyParser {
  var r: ByteReader
  init(_ buf: UnsafeRawBufferPointer) { r = ByteReader(buf) }

  mutating func parse() throws(GGUFError) -> ParsedFile {
    let magic = try r.u32("magic")
    throw .unsupportedVersion(format: "legacy 0x\(String(magic, radix: 16))", version: 0)
  }
}
