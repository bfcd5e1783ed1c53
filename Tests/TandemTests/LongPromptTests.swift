import Foundation
import Testing
import Tandem

/// A prompt far longer than the model reads is cut to a window of text before it is tokenized
/// (`TandemModel.encodePrompt`; issue 8 — tokenizing 10^7 characters whole took 2 GB). For
/// ordinary text the cut is invisible: the ids that reach the model are exactly those of
/// tokenizing everything and then truncating — the beginning for T5, the end for GPT-2.
struct LongPromptTests {
    /// `count` characters of seeded pseudo-random words, punctuation and a little non-ASCII.
    static func text(characters count: Int) -> String {
        let words = ["the", "river", "über", "town", "cat", "日本", "market", "rain,", "road.", "music", "Light", "garden;", "a", "of"]
        var state: UInt64 = 0x5EED
        var out: [Character] = []
        out.reserveCapacity(count + 16)
        while out.count < count {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            out += words[Int(state >> 33) % words.count]
            out.append((state >> 20) % 11 == 0 ? "\n" : " ")
        }
        return String(out.prefix(count))
    }

    @Test(arguments: GenerationGolden.names)
    func windowKeepsTheIdsTheModelReads(name: String) throws {
        let m = try GenerationGolden.open(name)
        let text = Self.text(characters: 300_000)
        let whole = m.promptIds(fromTokens: m.tokenizer.encode(text))
        let windowed = m.encodePrompt(text)
        #expect(whole.truncated && windowed.truncated)
        #expect(windowed.ids.count == whole.ids.count)
        #expect(windowed.ids == whole.ids)
    }

    @Test(arguments: GenerationGolden.names)
    func shortPromptsAreUntouched(name: String) throws {
        let m = try GenerationGolden.open(name)
        let text = Self.text(characters: 40)  // gpt2-tiny keeps 64 tokens of its 128 positions
        let r = m.encodePrompt(text)
        #expect(!r.truncated)
        #expect(r.ids == m.promptIds(fromTokens: m.tokenizer.encode(text)).ids)
    }
}
