import ArgumentParser
import Foundation
import QuantaQuantize
import QuantaTools
import Testing

@testable import quanta

/// `quanta run` and `quanta tokenize` take llama.cpp's flags; anything else is an error naming it.
@Suite struct RunParsingTests {
  @Test func llamaCppFlagsParse() throws {
    let run = try Run.parse([
      "-f", "prompt.txt", "-e", "-r", "User:", "-r", "###", "--ignore-eos", "-fa", "--presence-penalty",
      "0.5",
      "--frequency-penalty", "-0.25", "--repeat-last-n", "-1", "--typical", "0.9", "--xtc-probability", "0.5",
      "--xtc-threshold", "0.2", "--dry-multiplier", "0.8", "--dry-base", "2", "--dry-allowed-length", "3",
      "--dry-penalty-last-n", "-1", "--dry-sequence-breaker", "\\n", "--keep", "-1", "--no-context-shift",
      "--special", "-l", "2-inf", "-n", "-2",
    ])
    #expect(run.file == "prompt.txt" && run.escape && run.reversePrompt == ["User:", "###"])
    #expect(run.ignoreEOS && run.flashAttention && run.special && run.noContextShift)
    #expect(run.presencePenalty == 0.5 && run.frequencyPenalty == -0.25 && run.repeatLastN == -1)
    #expect(run.typical == 0.9 && run.xtcProbability == 0.5 && run.xtcThreshold == 0.2)
    #expect(run.dryMultiplier == 0.8 && run.dryBase == 2 && run.dryAllowedLength == 3)
    #expect(run.dryPenaltyLastN == -1 && run.drySequenceBreaker == ["\\n"] && run.keep == -1)
    #expect(run.logitBias == ["2-inf"] && run.nPredict == -2)
  }

  @Test func grammarFlagsParse() throws {
    #expect(try Run.parse(["-p", "x", "--grammar", "root ::= \"a\""]).grammar == "root ::= \"a\"")
    #expect(try Run.parse(["-p", "x", "-j", "{}"]).jsonSchema == "{}")
  }

  @Test func systemPromptTakesTheSingleDashSpelling() throws {
    // `-sys` was once read as `-s ys` (the seed).
    let run = try Run.parse(["--chat", "-sys", "be nice"])
    #expect(run.systemPrompt == "be nice" && run.seed == -1)
    #expect(try Run.parse(["--system-prompt", "x", "-p", "y"]).systemPrompt == "x")
    #expect(try Run.parse(["-p", "x", "--no-escape"]).noEscape)
  }

  @Test func unsupportedFlagsAreErrorsNamingThem() {
    // --grammar and --json-schema are supported now (GrammarTests); these are not.
    for flag in ["--chat-template-kwargs", "--lora", "--mmproj"] {
      #expect(throws: (any Error).self) { try Run.parse(["-p", "x", flag, "y"]) }
      do {
        _ = try Run.parse(["-p", "x", flag, "y"])
      } catch {
        #expect(Run.message(for: error).contains(flag), "\(Run.message(for: error))")
        #expect(Run.exitCode(for: error) != .success)
      }
    }
    // `-hf` would be `-h -f` to ArgumentParser: help and exit 0. It is refused before parsing.
    #expect(CLIText.unsupportedSingleDash(["run", "-hf", "x/y"], known: Quanta.singleDashWords) == "-hf")
    #expect(CLIText.unsupportedSingleDash(["run", "-dev", "cuda0"], known: Quanta.singleDashWords) == "-dev")
    let fine = [
      "run", "-n", "-1", "--temp", "-0.5", "-ngl", "99", "-sys", "x", "-fa", "-cnv", "-ctk", "q8_0", "-ctv",
      "q4_0",
      "-p", "a",
    ]
    #expect(CLIText.unsupportedSingleDash(fine, known: Quanta.singleDashWords) == nil)
  }

  @Test func chatTemplateFlagsParse() throws {
    // `--jinja` is llama.cpp's switch to run the model's template, which Quanta always does.
    let run = try Run.parse(["--chat", "--jinja", "--chat-template", "t.jinja"])
    #expect(run.chat && run.jinja && run.chatTemplateFile == "t.jinja")
    #expect(try Run.parse(["--chat"]).chatTemplateFile == nil)
  }

  @Test func flashAttentionTakesNewerLlamaCppsValues() throws {
    #expect(try CLIText.flashAttentionValues(["run", "-fa", "on", "-p", "x"]) == ["run", "-fa", "-p", "x"])
    #expect(try CLIText.flashAttentionValues(["run", "--flash-attn", "auto"]) == ["run", "--flash-attn"])
    #expect(try CLIText.flashAttentionValues(["run", "-fa", "-p", "x"]) == ["run", "-fa", "-p", "x"])
    #expect(throws: QuantaToolError.self) { try CLIText.flashAttentionValues(["run", "-fa", "off"]) }
  }

  @Test func versionIsOnTheRootCommand() {
    #expect(!Quanta.configuration.version.isEmpty)
  }

  @Test func tokenizeParsesSpecialAndEscapesByDefault() throws {
    let t = try Tokenize.parse(["-p", "x"])
    #expect(!t.noParseSpecial && !t.noEscape)
    let off = try Tokenize.parse(["-p", "x", "--no-parse-special", "--no-escape"])
    #expect(off.noParseSpecial && off.noEscape)
  }
}

@Suite struct CLITextTests {
  @Test func escapesAsLlamaCpp() {
    #expect(CLIText.processEscapes(#"a\nb\tc\\d\"e\'f\x41\q\"#) == "a\nb\tc\\d\"e'fA\\q\\")
    #expect(CLIText.processEscapes(#"<start_of_turn>user\nHi"#) == "<start_of_turn>user\nHi")
    #expect(CLIText.processEscapes(#"\xZZ"#) == #"\xZZ"#)
  }

  @Test func logitBiasSpelling() throws {
    #expect(try CLIText.logitBias("15043+1") == (15043, 1))
    #expect(try CLIText.logitBias("15043-1.5") == (15043, -1.5))
    #expect(try CLIText.logitBias("2-inf").bias == -.infinity)
    #expect(throws: QuantaToolError.self) { try CLIText.logitBias("abc") }
    #expect(throws: QuantaToolError.self) { try CLIText.logitBias("-5+1") }
  }

  @Test func promptFileLosesOneTrailingNewline() throws {
    let path = NSTemporaryDirectory() + "quanta-prompt-\(getpid()).txt"
    try "line one\nline two\n\n".write(toFile: path, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: path) }
    #expect(try CLIText.prompt(fromFile: path) == "line one\nline two\n")
    #expect(throws: QuantaToolError.invalidArgument("-f /nonexistent/p.txt: no such file")) {
      try CLIText.prompt(fromFile: "/nonexistent/p.txt")
    }
  }
}
