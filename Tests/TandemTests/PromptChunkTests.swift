// A decoder-only prompt read in passes of `promptChunk` tokens (each appending to the cache) must
// give what one pass over the whole prompt gives: the same last logits, and a cache from which the
// next step's logits are the same.
import Foundation
import TandemModels
import TandemTestSupport
import Testing
@testable import Tandem

struct PromptChunkTests {
    @Test(arguments: [1, 7, 32])
    func aPromptReadInPiecesMatchesOnePass(chunk: Int) throws {
        let m = try ChatSessionTests.model()
        let whole = try #require(m.model as? CausalRunner)
        let pieces = CausalRunner(model: whole.model, eosTokenId: whole.eosTokenId, promptChunk: chunk)
        let prompt = Array(m.tokenizer.encode(PromptFrameTests.text(60)).prefix(70))
        #expect(prompt.count > 2 * chunk && prompt.count > whole.promptChunk / 16)
        let (s1, l1) = try whole.start(prompt: prompt, maxNewTokens: 4)
        let (s2, l2) = try pieces.start(prompt: prompt, maxNewTokens: 4)
        let scale = l1.map(abs).max()!
        #expect(zip(l1, l2).map { abs($0 - $1) }.max()! <= 1e-5 * scale, "chunk \(chunk): last logits")
        let next = Int32(l1.indices.max { l1[$0] < l1[$1] }!)
        let a = try whole.step([s1], tokens: [next]).array, b = try pieces.step([s2], tokens: [next]).array
        #expect(zip(a, b).map { abs($0 - $1) }.max()! <= 1e-5 * a.map(abs).max()!, "chunk \(chunk): the step after")
        #expect(s2.position == prompt.count + 1)
    }
}
