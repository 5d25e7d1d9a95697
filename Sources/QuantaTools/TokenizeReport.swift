import Foundation
import GGUF
import QuantaLM

/// `quanta tokenize`'s output, in llama-tokenize's shapes: one `%6d -> 'piece'` line per token, or
/// with `--ids` the Python-list form `[2, 9259, 1902]`. Pieces include control tokens (`<bos>`),
/// as llama-tokenize prints them.
public enum TokenizeReport {
  /// Token ids of `text` with the model file's own vocabulary (only the metadata is read).
  public static func tokenize(
    modelPath: String, text: String, addSpecial: Bool = true, parseSpecial: Bool = false
  ) throws -> (tokenizer: Tokenizer, ids: [Int32]) {
    let file = try GGUFFile(path: modelPath)
    let tokenizer = try Tokenizer(try Vocabulary(metadata: file.metadata))
    return (tokenizer, tokenizer.encode(text, addSpecial: addSpecial, parseSpecial: parseSpecial))
  }

  public static func idList(_ ids: [Int32]) -> String {
    "[" + ids.map(String.init).joined(separator: ", ") + "]\n"
  }

  /// The per-token lines as bytes: a piece that is not valid UTF-8 on its own (one byte of a
  /// multi-byte character) is written raw, as llama-tokenize does on POSIX.
  public static func pieceLines(_ ids: [Int32], tokenizer: Tokenizer) -> [UInt8] {
    var out: [UInt8] = []
    for id in ids {
      out += Array(String(format: "%6d -> '", id).utf8)
      out += tokenizer.piece(id, special: true)
      out += Array("'\n".utf8)
    }
    return out
  }
}
