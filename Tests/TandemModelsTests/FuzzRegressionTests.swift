import Foundation
import Testing
import TandemFormat
import TandemKernels
import TandemModels

/// Configs that Fuzz/FuzzConfigJSON found to crash or exhaust memory (committed under
/// Tests/Fixtures/fuzz-regressions), and the neighbours of each: the same fixture checkpoint
/// config with one value changed. A config is outside data (a checkpoint's config.json, or the
/// copy inside a `.tandem` file that the runtime decodes with the same `from`), so every one of
/// these must be a `ConfigError`, while the committed checkpoints' configs stay accepted.
@Suite struct ConfigFuzzRegressionTests {
    func json(_ relative: String) throws -> JSONValue {
        try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: Fixtures.path(relative))), what: relative)
    }

    /// The committed checkpoint's config.json with `changes` applied.
    func config(_ checkpoint: String, _ changes: [String: JSONValue]) throws -> JSONValue {
        guard case var .object(o) = try json("Tests/Fixtures/checkpoints/\(checkpoint)/config.json") else { throw ConfigError("not an object") }
        o.merge(changes) { $1 }
        return .object(o)
    }

    func refused(_ config: JSONValue) -> Bool {
        let architecture = config["model_type"]?.stringValue.flatMap(ArchitectureRegistry.architecture(modelType:))
        return (try? architecture?.expectedTensors(config: config, checkpointNames: [])) == nil
    }

    /// `"relative_attention_num_buckets": 6490` with the default max distance 128: the buckets of
    /// far positions came out negative, rows before the bias table (an out-of-bounds read in
    /// T5RelativePosition.bias in a release build).
    @Test func t5MaxDistanceInsideTheExactBucketsIsRefused() throws {
        let found = try json("Tests/Fixtures/fuzz-regressions/FuzzConfigJSON-t5-buckets-outside-table.json")
        #expect(throws: ConfigError.self) { try T5Config.from(found) }
        #expect(refused(found))
        for (buckets, distance) in [(32, 16), (32, 8), (2, 128), (3, 128), (32, 0), (32, -128)] {
            let c = try config("t5-v1_1-tiny", ["relative_attention_num_buckets": .number(Double(buckets)),
                                                 "relative_attention_max_distance": .number(Double(distance))])
            #expect(throws: ConfigError.self, "\(buckets) buckets, max distance \(distance)") { try T5Config.from(c) }
        }
    }

    /// Every bucket of an accepted config indexes the table, however far the position.
    @Test func acceptedT5ConfigsGiveBucketsInsideTheTable() throws {
        for (buckets, distance) in [(4, 3), (5, 3), (32, 17), (32, 128), (6490, 3246), (1 << 24, 1 << 24)] {
            let c = try T5Config.from(config("t5-v1_1-tiny", ["relative_attention_num_buckets": .number(Double(buckets)),
                                                               "relative_attention_max_distance": .number(Double(distance))]))
            for bidirectional in [true, false] {
                for position in [-1 << 40, -100_000, -129, -17, -1, 0, 1, 17, 129, 100_000, 1 << 40] {
                    let b = T5RelativePosition.bucket(relativePosition: position, bidirectional: bidirectional,
                                                      numBuckets: c.relativeAttentionNumBuckets, maxDistance: c.relativeAttentionMaxDistance!)
                    #expect((0..<buckets).contains(b), "\(buckets) buckets, max distance \(distance), position \(position): \(b)")
                }
            }
        }
    }

    /// `"num_decoder_layers": 21474836480` was not range-checked: the converter's tensor map grew
    /// until memory ran out; a negative count trapped on `0..<n`.
    @Test func t5DecoderLayerCountIsChecked() throws {
        let found = try json("Tests/Fixtures/fuzz-regressions/FuzzConfigJSON-t5-decoder-layers-oom.json")
        #expect(throws: ConfigError.self) { try T5Config.from(found) }
        #expect(refused(found))
        for n in [-1, 0, ConfigLimits.maxLayers + 1, 1 << 24] {
            #expect(refused(try config("t5-v1_1-tiny", ["num_decoder_layers": .number(Double(n))])), "num_decoder_layers \(n)")
            #expect(refused(try config("t5-v1_1-tiny", ["num_layers": .number(Double(n))])), "num_layers \(n)")
        }
    }

    /// The same holes in the other architectures: layer counts up to 2^24 (a timeout building the
    /// tensor map), and the optional sizes n_inner and head_dim, which were not range-checked.
    @Test func gpt2AndLlamaSizesAreChecked() throws {
        for n in [ConfigLimits.maxLayers + 1, 1 << 24] {
            #expect(refused(try config("gpt2-tiny", ["n_layer": .number(Double(n))])), "n_layer \(n)")
            #expect(refused(try config("llama-tiny", ["num_hidden_layers": .number(Double(n))])), "num_hidden_layers \(n)")
        }
        for v in [-5, 0, (1 << 24) + 1] {
            #expect(refused(try config("gpt2-tiny", ["n_inner": .number(Double(v))])), "n_inner \(v)")
            #expect(refused(try config("llama-tiny", ["head_dim": .number(Double(v))])), "head_dim \(v)")
        }
    }

    /// Checking head_dim (above) first computed the default head size, hidden_size /
    /// num_attention_heads, before num_attention_heads was known to be positive: a division by
    /// zero. Caught by the fuzzer before that check was committed; kept so it stays caught.
    @Test func llamaWithoutHeadsIsRefusedBeforeTheHeadSizeIsComputed() throws {
        let found = try json("Tests/Fixtures/fuzz-regressions/FuzzConfigJSON-llama-zero-heads.json")
        #expect(throws: ConfigError.self) { try LlamaConfig.from(found) }
        #expect(refused(found))
    }

    @Test func committedCheckpointConfigsAreStillAccepted() throws {
        for checkpoint in ["t5-v1_0-tiny", "t5-v1_1-tiny", "gpt2-tiny", "llama-tiny"] {
            #expect(!refused(try config(checkpoint, [:])), "\(checkpoint)")
        }
    }
}
