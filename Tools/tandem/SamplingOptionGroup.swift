// The sampling options `generate` and `chat` share: one declaration, one check.
import ArgumentParser
import Tandem

struct SamplingOptionGroup: ParsableArguments {
    @Option(help: "Sampling temperature (enables sampling).")
    var temperature: Float?

    @Option(name: .customLong("top-k"), help: "Sample from the k most probable tokens (enables sampling).")
    var topK: Int?

    @Option(name: .customLong("top-p"), help: "Sample from the smallest set with probability ≥ p (enables sampling).")
    var topP: Float?

    @Option(help: "Seed for sampling.")
    var seed: UInt64 = 0

    func validate() throws {
        if let t = temperature, !(t >= 0 && t.isFinite) { throw ValidationError("--temperature must be a finite number ≥ 0") }
        if let k = topK, k < 0 { throw ValidationError("--top-k must be ≥ 0") }
        if let p = topP, !(p > 0 && p <= 1) { throw ValidationError("--top-p must be in (0, 1]") }
    }

    /// The sampling asked for, or nil (greedy) when no sampling option was given.
    var options: SamplingOptions? {
        guard temperature != nil || topK != nil || topP != nil else { return nil }
        return SamplingOptions(temperature: temperature ?? 1, topK: topK ?? 0, topP: topP ?? 1, seed: seed)
    }
}
