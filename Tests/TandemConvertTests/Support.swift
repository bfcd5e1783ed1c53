import Foundation
import TandemTestSupport
import Testing
import TandemFormat
import TandemModels

enum Fixtures {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func path(_ relative: String) -> String { repo.appendingPathComponent(relative).path }
    static func temporary(_ name: String) -> String { Scratch.unique(name) }
    static let checkpoints = ["t5-v1_0-tiny", "t5-v1_1-tiny", "gpt2-tiny"]
}

/// Checks every tensor of a converted file against its source checkpoint: f32 exactly, other
/// dtypes within their round-trip bound (per 32-element block for block types).
func expectMatchesSource(_ file: TandemFile, checkpoint dir: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let config = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: dir + "/config.json")), what: "config")
    let ckpt = try SafetensorsCheckpoint(directory: dir)
    let arch = try #require(ArchitectureRegistry.architecture(modelType: config["model_type"]!.stringValue!))
    let expected = try arch.expectedTensors(config: config, checkpointNames: Set(ckpt.names))
    #expect(file.tensors.count == expected.count, sourceLocation: sourceLocation)
    for e in expected {
        let view = try #require(file.tensor(e.name), "missing \(e.name)", sourceLocation: sourceLocation)
        #expect(view.shape == e.shape, sourceLocation: sourceLocation)
        var source = try ckpt[e.sourceName]!.floats()
        let columns = e.shape.last!
        let rows = source.count / columns
        if e.transposed {
            var t = source
            for r in 0..<rows { for c in 0..<columns { t[r * columns + c] = source[c * rows + r] } }
            source = t
        }
        let decoded = view.dtype.decode(view.data, count: source.count)
        let block = view.dtype.isQuantized ? view.dtype.blockSize : 1
        var worst: Float = 0
        for b in 0..<source.count / block {
            let range = b * block..<(b + 1) * block
            let amax = source[range].map(abs).max()!
            let bound = view.dtype.roundTripBound(amax: amax)
            for i in range {
                let err = abs(source[i] - decoded[i])
                worst = max(worst, err - bound)
            }
        }
        #expect(worst <= 0, "\(e.name) as \(view.dtype): error exceeds bound by \(worst)", sourceLocation: sourceLocation)
    }
}
