// The LLM-to-SLM projector (Bergner et al. 2024, arXiv 2402.16844; docs/ARCHITECTURE.md): maps
// the large model's final hidden states H (m × d_l) into the small model's embedding space,
// Z = W₂·ReLU(W₀·H + b₀) + b₂ (m × d_s), position by position. For a decoder-only small model
// whose tokenizer is not the large model's, it also holds the prompt adapter A (d_s × d_l), which
// maps the large model's token embeddings into the small one's; one sharing the large model's
// tokenizer reads its own embeddings, as an encoder-decoder does. Trained by Tools/llm2slm/train.py
// (PyTorch `nn.Sequential(Linear, ReLU, Linear)`, hence the names 0 and 2).
import TandemFormat
import TandemKernels

/// The projector's dimensions, stored as its model entry's config in a bundle.
public struct ProjectorConfig: Codable, Sendable, Equatable {
    /// d_l: the large model's hidden size.
    public var llmDim: Int
    /// d_h: the projector's hidden width.
    public var hiddenDim: Int
    /// d_s: the small model's embedding width.
    public var slmDim: Int
    /// How the small model takes Z (`Kind`'s raw values; absent in early bundles: encoder-decoder).
    public var slmKind: String?
    /// The reader's hidden states the projector was trained on: Hugging Face's `hidden_states`
    /// index of a decoder-only reader; nil for the last (after the final norm), the only choice
    /// for a T5 encoder.
    public var readerLayer: Int?

    /// How the small model takes the projected prompt.
    public enum Kind: String, Sendable {
        /// An encoder-decoder sharing the reader's tokenizer: its encoder reads E_slm[x] + Z.
        case encoderDecoder = "encoder-decoder"
        /// A decoder-only model with its own tokenizer: A·E_llm[x] + Z, then its BOS (the prompt adapter A).
        case decoderOnly = "decoder-only"
        /// A decoder-only model sharing the reader's tokenizer: E_slm[x] + Z, the response continuing the prompt.
        case sharedTokenizer = "decoder-only-shared-tokenizer"
    }

    enum CodingKeys: String, CodingKey {
        case llmDim = "llm_dim", hiddenDim = "hidden_dim", slmDim = "slm_dim", slmKind = "slm_kind", readerLayer = "reader_layer"
    }

    public init(llmDim: Int, hiddenDim: Int, slmDim: Int, kind: Kind, readerLayer: Int? = nil) {
        self.llmDim = llmDim
        self.hiddenDim = hiddenDim
        self.slmDim = slmDim
        slmKind = kind.rawValue
        self.readerLayer = readerLayer
    }

    public init(llmDim: Int, hiddenDim: Int, slmDim: Int, decoderOnly: Bool) {
        self.init(llmDim: llmDim, hiddenDim: hiddenDim, slmDim: slmDim, kind: decoderOnly ? .decoderOnly : .encoderDecoder)
    }

    public var kind: Kind? { Kind(rawValue: slmKind ?? Kind.encoderDecoder.rawValue) }
    public var hasPromptAdapter: Bool { kind == .decoderOnly }
    public var continuesPrompt: Bool { kind == .sharedTokenizer }

    public static func from(_ json: JSONValue) throws(ConfigError) -> ProjectorConfig {
        let c: ProjectorConfig
        do { c = try json.decode(ProjectorConfig.self) } catch { throw ConfigError("projector config lacks llm_dim/hidden_dim/slm_dim: \(error)") }
        for (key, v) in [("llm_dim", c.llmDim), ("hidden_dim", c.hiddenDim), ("slm_dim", c.slmDim)] where v <= 0 || v > 1 << 24 {
            throw ConfigError("projector config: \(key) = \(v) is out of range")
        }
        guard c.kind != nil else { throw ConfigError("projector config: slm_kind \(c.slmKind ?? "") is not one Tandem knows") }
        if let layer = c.readerLayer, layer < 1 || layer > ConfigLimits.maxLayers {
            throw ConfigError("projector config: reader_layer = \(layer) is out of range")
        }
        return c
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "llm_dim": .number(Double(llmDim)), "hidden_dim": .number(Double(hiddenDim)), "slm_dim": .number(Double(slmDim)),
            "slm_kind": .string(slmKind ?? Kind.encoderDecoder.rawValue),
        ]
        if let readerLayer { o["reader_layer"] = .number(Double(readerLayer)) }
        return .object(o)
    }
}

/// The projector's tensors, named and shaped once: the bundle converter checks the trained
/// projector file against `all` (source names as train.py saves them), and `Projector` reads
/// each field (names under the bundle's `projector.` prefix).
public struct ProjectorTensors: Sendable {
    public let w0: ExpectedTensor        // [d_h, d_l]
    public let b0: ExpectedTensor        // [d_h]
    public let w2: ExpectedTensor        // [d_s, d_h]
    public let b2: ExpectedTensor        // [d_s]
    /// Decoder-only small models only.
    public let adapter: ExpectedTensor?  // [d_s, d_l]

    public init(_ c: ProjectorConfig) {
        w0 = ExpectedTensor("0.weight", [c.hiddenDim, c.llmDim], .linear, sourceName: "projector.0.weight")
        b0 = ExpectedTensor("0.bias", [c.hiddenDim], .bias, sourceName: "projector.0.bias")
        w2 = ExpectedTensor("2.weight", [c.slmDim, c.hiddenDim], .linear, sourceName: "projector.2.weight")
        b2 = ExpectedTensor("2.bias", [c.slmDim], .bias, sourceName: "projector.2.bias")
        adapter = c.hasPromptAdapter ? ExpectedTensor("prompt_adapter.weight", [c.slmDim, c.llmDim], .linear, sourceName: "prompt_adapter.weight") : nil
    }

    /// Every tensor in file order.
    public var all: [ExpectedTensor] { [w0, b0, w2, b2] + (adapter.map { [$0] } ?? []) }
}

public final class Projector: @unchecked Sendable {
    public let config: ProjectorConfig
    /// The mapped file every weight points into, kept alive as long as the model.
    public let weights: ModelWeights
    let layer0: Linear     // [d_h, d_l] + bias
    let layer2: Linear     // [d_s, d_h] + bias
    let adapter: Linear?   // [d_s, d_l]

    public init(weights w: ModelWeights, config: ProjectorConfig) throws(ModelError) {
        self.config = config
        weights = w
        let t = ProjectorTensors(config)
        layer0 = try w.linear(t.w0, bias: t.b0)
        layer2 = try w.linear(t.w2, bias: t.b2)
        adapter = try t.adapter.map { (a) throws(ModelError) in try w.linear(a) }
    }

    public var hasPromptAdapter: Bool { adapter != nil }

    /// Z = W₂·ReLU(W₀·H + b₀) + b₂ for `rows` rows of H: `rows × d_s` floats.
    public func project(_ h: FloatBuffer, rows: Int, pool: ThreadPool) -> FloatBuffer {
        let hidden = FloatBuffer(count: rows * layer0.outFeatures)
        layer0(h.buffer, rows: rows, into: hidden.mutable, pool: pool)
        Ops.relu(hidden.mutable)
        let z = FloatBuffer(count: rows * layer2.outFeatures)
        layer2(hidden.buffer, rows: rows, into: z.mutable, pool: pool)
        return z
    }

    /// A·E_llm[x] for `rows` rows of the large model's token embeddings: `rows × d_s` floats.
    public func adapt(_ embeddings: FloatBuffer, rows: Int, pool: ThreadPool) -> FloatBuffer {
        let a = adapter!
        let x = FloatBuffer(count: rows * a.outFeatures)
        a(embeddings.buffer, rows: rows, into: x.mutable, pool: pool)
        return x
    }
}
