// Fuzz target: a Hugging Face `config.json` as `tandem convert` reads it (Sources/TandemConvert/
// Converter.swift): JSONValue.parse, then the architecture chosen by `model_type` in
// ArchitectureRegistry builds its tensor map and generation defaults (Sources/TandemModels/
// T5.swift, GPT2.swift, Llama.swift). Every typed config is also decoded whatever the model_type,
// so each decoder sees every input. A T5 config that is accepted must also be safe for the
// attention code that takes numbers from it: every relative-position bucket is a row of the
// bias table (T5RelativePosition, as T5Model calls it).
import Foundation
import FuzzSupport
import TandemFormat
import TandemKernels
import TandemModels

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let config = try? JSONValue.parse(Data(input(data, size)), what: "config.json") else { return 0 }
    if let t5 = try? T5Config.from(config) { checkBuckets(t5) }
    _ = try? GPT2Config.from(config)
    _ = try? LlamaConfig.from(config)
    guard let modelType = config["model_type"]?.stringValue,
          let architecture = ArchitectureRegistry.architecture(modelType: modelType) else { return 0 }
    for names: Set<String> in [[], ["lm_head.weight", "transformer.wte.weight"]] {
        _ = try? architecture.expectedTensors(config: config, checkpointNames: names)
    }
    _ = architecture.generationDefaults(config: config)
    return 0
}

func checkBuckets(_ c: T5Config) {
    let buckets = c.relativeAttentionNumBuckets
    for bidirectional in [true, false] {
        for position in [-100_000, -1000, -129, -128, -17, -16, -9, -8, -1, 0, 1, 8, 9, 16, 17, 128, 129, 1000, 100_000] {
            let b = T5RelativePosition.bucket(relativePosition: position, bidirectional: bidirectional,
                                              numBuckets: buckets, maxDistance: c.relativeAttentionMaxDistance ?? 128)
            precondition((0..<buckets).contains(b), "bucket \(b) of position \(position) outside the \(buckets)-row table")
        }
    }
}

@main enum FuzzConfigJSON { static func main() { runLibFuzzer(fuzzOneInput) } }
