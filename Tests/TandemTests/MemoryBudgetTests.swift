// `summarize --max-memory` on a decoder-only model: when even one sequence does not fit at the
// default prompt pass, the passes shrink until it does, and the run says so.
import Foundation
@testable import Tandem
import TandemModels
import Testing

struct MemoryBudgetTests {
    @Test func oneSequenceThatDoesNotFitGetsSmallerPromptPasses() throws {
        let model = try ChatSessionTests.model()
        let (prompt, new) = (1500, 16)
        func need(pass: Int) -> Int {
            model.promptPassTokens = pass
            defer { model.promptPassTokens = CausalRunner.defaultPromptChunk }
            return model.fixedBytes + model.memoryBytes(batch: 1, promptTokens: prompt, newTokens: new)
        }
        #expect(need(pass: 128) < need(pass: 256) && need(pass: 256) < need(pass: 512), "smaller passes, less memory")
        // A budget between what passes of 128 and of 256 need: batch 1, passes of 128 (512 → 256 → 128).
        let budget = (need(pass: 128) + need(pass: 256)) / 2
        let job = Summarizer(model: model, options: SummarizeOptions(generation: GenerationOptions(maxNewTokens: new), batch: 4,
                                                                     maxMemory: UInt64(budget)))
        var info: [String] = [], warnings: [String] = []
        job.onInfo = { info.append($0) }
        job.onWarning = { warnings.append($0) }
        #expect(job.batchSize(promptTokens: prompt) == 1)
        #expect(model.promptPassTokens == 128)
        #expect(warnings.isEmpty, "\(warnings)")
        #expect(info == ["batch 1 of --batch 4 fits --max-memory \(budget >> 20) MiB with prompt passes of 128 tokens (estimated \(need(pass: 128) >> 20) MiB at \(prompt) input tokens)"])
        // A budget that nothing fits: passes stop at the smallest, and the warning says so.
        model.promptPassTokens = CausalRunner.defaultPromptChunk
        let tight = Summarizer(model: model, options: SummarizeOptions(generation: GenerationOptions(maxNewTokens: new), maxMemory: 1 << 20))
        tight.onWarning = { warnings.append($0) }
        #expect(tight.batchSize(promptTokens: prompt) == 1)
        #expect(model.promptPassTokens == Summarizer.smallestPromptPass)
        #expect(warnings.count == 1 && warnings[0].hasPrefix("even batch 1 with prompt passes of 64 tokens needs an estimated"), "\(warnings)")
    }
}
