import Foundation
import Testing
import Tandem
import TandemModels

/// `--max-tokens 1000000` must not allocate decoding caches for a million tokens up front (1 GB
/// for the 2-layer test T5, 183 GiB for t5-large's decoder; issue 8): caches start small and grow
/// as tokens are generated. Growing must keep what the cache holds — a state that grew many times
/// gives the same logits, step for step, as one that never had to.
struct CacheGrowthTests {
    @Test func t5DecoderCacheGrowsAndKeepsItsContents() throws {
        let m = try GenerationGolden.open("t5-v1_1-tiny")
        guard let r = m.model as? T5Runner else { Issue.record("not a T5 runner"); return }
        let prompt = m.encodePrompt("translate English to German: The house is wonderful.").ids
        let (big, _) = try r.start(prompt: prompt, maxNewTokens: 1_000_000)
        #expect(big.capacity <= 256, "\(big.capacity) decoder steps allocated up front")
        let encoded = try r.model.encode(prompt)
        let small = r.model.makeDecoderState(encoderOutput: encoded, length: prompt.count, maxSteps: 2)
        #expect(small.capacity == 2)
        _ = try r.model.decodeStep([small], tokens: [r.decoderStartTokenId])
        var mismatches = 0
        for step in 0..<300 {
            let token = Int32(3 + step * 7 % 97)
            if try r.step([big], tokens: [token]).array != r.step([small], tokens: [token]).array { mismatches += 1 }
        }
        #expect(mismatches == 0)
        #expect(small.capacity >= 301 && big.capacity >= 301)
    }

    @Test func causalCacheGrowsAndKeepsItsContents() throws {
        let m = try GenerationGolden.open("gpt2-tiny")
        guard let r = m.model as? CausalRunner else { Issue.record("not a causal runner"); return }
        let prompt = m.encodePrompt("The house is").ids
        let (big, _) = try r.start(prompt: prompt, maxNewTokens: 1_000_000)
        #expect(big.capacity <= prompt.count + 256, "\(big.capacity) positions allocated up front")
        let small = r.model.makeState(capacity: prompt.count)
        _ = try r.model.forward(try r.model.embed(prompt), segments: [(small, prompt.count)], tracer: nil)
        var mismatches = 0
        for step in 0..<(128 - prompt.count) {
            let token = Int32(3 + step * 7 % 97)
            if try r.step([big], tokens: [token]).array != r.step([small], tokens: [token]).array { mismatches += 1 }
        }
        #expect(mismatches == 0)
        #expect(small.capacity >= 128 && small.position == 128)
    }
}
