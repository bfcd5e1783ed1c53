// What decoder-only models (GPT-2, LLaMA) share: the per-sequence KV cache, and the idea of a
// "segment" — consecutive activation rows that belong to one sequence. Prompt processing is one
// segment of m rows (a GEMM over all prompt tokens); batched decoding is n segments of one row.
// Linear layers run once over all rows; attention runs per segment against its own cache.
import TandemFormat
import TandemKernels

/// The KV cache of one sequence.
public final class CausalState: @unchecked Sendable {
    /// Positions the cache holds now. It grows (doubling) when a forward pass needs more, so a
    /// generous `--max-tokens` costs memory only for the tokens actually generated.
    public private(set) var capacity: Int
    public internal(set) var position = 0
    let width: Int
    private(set) var keys: [FloatBuffer]
    private(set) var values: [FloatBuffer]

    public init(layers: Int, width: Int, capacity: Int) {
        self.capacity = capacity
        self.width = width
        keys = (0..<layers).map { _ in FloatBuffer(count: capacity * width) }
        values = (0..<layers).map { _ in FloatBuffer(count: capacity * width) }
    }

    /// An independent copy of the used part of the cache (beams fork).
    public func copy() -> CausalState {
        let c = CausalState(layers: keys.count, width: width, capacity: capacity)
        let used = position * width
        for l in keys.indices {
            c.keys[l].mutable.baseAddress!.update(from: keys[l].mutable.baseAddress!, count: used)
            c.values[l].mutable.baseAddress!.update(from: values[l].mutable.baseAddress!, count: used)
        }
        c.position = position
        return c
    }

    /// Forgets every position from `position` on, so the sequence continues differently from
    /// there (a chat whose next prompt re-tokenizes the previous answer otherwise than it was
    /// generated). The forgotten keys and values are overwritten as the sequence goes on.
    public func rewind(to position: Int) {
        precondition(position >= 0 && position <= self.position, "rewind past the cached positions")
        self.position = position
    }

    /// Makes room for `positions` positions, keeping the cached ones.
    func reserve(_ positions: Int) {
        guard positions > capacity else { return }
        let grown = max(positions, 2 * capacity)
        let used = position * width
        func moved(_ old: FloatBuffer) -> FloatBuffer {
            let b = FloatBuffer(count: grown * width)
            b.mutable.baseAddress!.update(from: old.mutable.baseAddress!, count: used)
            return b
        }
        keys = keys.map(moved)
        values = values.map(moved)
        capacity = grown
    }
}

/// A decoder-only language model.
public protocol CausalLanguageModel: AnyObject, Sendable {
    var vocabularySize: Int { get }
    var hiddenSize: Int { get }
    var layerCount: Int { get }
    /// Floats per cached position per layer (kv heads × head size).
    var cacheWidth: Int { get }
    var maxPositions: Int? { get }
    /// The threads the model runs on.
    var pool: ThreadPool { get }
    /// Bytes of the weight copies batched decoding makes, at most (every quantized matrix).
    var prepackedBytes: Int { get }
    /// Bytes a prompt pass over `rows` tokens works in (its activations), attending to `keys`
    /// positions (the rows and the cache before them).
    func workingBytes(rows: Int, keys: Int) -> Int
    /// Bytes of the mapped weights released after use (`AutoregressiveModel.releasedWeightBytes`).
    var releasedWeightBytes: Int { get }
    /// Token embeddings (no positions) of `ids`, checked against the vocabulary.
    func embed(_ ids: [Int32]) throws(ModelError) -> FloatBuffer
    /// Runs rows of input embeddings, `segments[i].rows` of them for `segments[i].state`
    /// (appended to its cache), and returns the logits of each segment's last row.
    func forward(_ x: FloatBuffer, segments: [(state: CausalState, rows: Int)], tracer: ForwardTracer?) throws(ModelError) -> FloatBuffer
    /// The same for one segment, returning the logits of its rows from `logitsFrom` on
    /// (`(rows − logitsFrom) × vocabularySize`): scoring text, as perplexity does.
    func forward(_ x: FloatBuffer, segment: (state: CausalState, rows: Int), tracer: ForwardTracer?, logitsFrom: Int) throws(ModelError) -> FloatBuffer
}

extension CausalLanguageModel {
    public var releasedWeightBytes: Int { 0 }

    /// Bytes of one sequence's KV cache holding `positions` positions, as it is allocated
    /// (`makeState(promptTokens:maxNewTokens:)`, then doubled as it grows).
    public func cacheBytes(promptTokens m: Int, newTokens n: Int) -> Int {
        layerCount * 2 * allocatedPositions(m + n, first: m + min(n, 256)) * cacheWidth * 4
    }

    public func makeState(capacity: Int) -> CausalState {
        CausalState(layers: layerCount, width: cacheWidth, capacity: capacity)
    }

    /// A cache for a prompt of `promptTokens` followed by up to `maxNewTokens` more: room for
    /// the prompt and at most 256 new positions up front, grown as generation goes on (256
    /// positions of SmolLM2-135M are 11 MiB; a million would be 43 GiB).
    public func makeState(promptTokens: Int, maxNewTokens: Int) -> CausalState {
        makeState(capacity: promptTokens + min(maxNewTokens, 256))
    }

    /// Whether a forward pass is a decoding step (one new row per sequence) rather than a prompt
    /// pass: only decoding steps earn the weights a prepacked copy (`Linear`'s `decoding:`).
    func isDecodingStep(_ segments: [(state: CausalState, rows: Int)]) -> Bool {
        segments.allSatisfy { $0.rows == 1 }
    }

    /// Checks each segment fits the model's positions, grows its cache if needed, and returns
    /// the position of each row.
    func positions(_ segments: [(state: CausalState, rows: Int)]) throws(ModelError) -> [Int] {
        var out: [Int] = []
        for s in segments {
            if let limit = maxPositions, s.state.position + s.rows > limit {
                throw .inputTooLong(tokens: s.state.position + s.rows, limit: limit)
            }
            s.state.reserve(s.state.position + s.rows)
            for i in 0..<s.rows { out.append(s.state.position + i) }
        }
        return out
    }

    /// Stores this layer's keys and values of every segment in its cache and attends each
    /// segment's queries to its cache (causal). q: [rows, heads·hd]; k, v: [rows, kvHeads·hd].
    /// The scores are scaled by `scale` (default 1/√headDim); with `window`, each query sees
    /// the last `window` positions only (sliding-window attention).
    func attendSegments(
        layer l: Int, segments: [(state: CausalState, rows: Int)], q: FloatBuffer, k: FloatBuffer, v: FloatBuffer,
        out: FloatBuffer, heads: Int, kvHeads: Int, headDim: Int, scale: Float? = nil, window: Int? = nil,
        allowBF16: Bool = false, pool: ThreadPool
    ) {
        let qWidth = heads * headDim, kvWidth = kvHeads * headDim
        let scale = scale ?? 1 / Float(headDim).squareRoot()
        var row = 0
        for s in segments {
            let p = s.state.position
            _ = s.state.keys[l][p * kvWidth..<(p + s.rows) * kvWidth].update(fromContentsOf: k.mutable[row * kvWidth..<(row + s.rows) * kvWidth])
            _ = s.state.values[l][p * kvWidth..<(p + s.rows) * kvWidth].update(fromContentsOf: v.mutable[row * kvWidth..<(row + s.rows) * kvWidth])
            if s.rows >= 8 {
                // A prompt pass: two GEMMs per head.
                PrefillAttention.attend(
                    q: q.buffer.baseAddress! + row * qWidth, k: s.state.keys[l].buffer.baseAddress!,
                    v: s.state.values[l].buffer.baseAddress!, out: out.mutable.baseAddress! + row * qWidth,
                    queries: s.rows, keys: p + s.rows, heads: heads, kvHeads: kvHeads, headDim: headDim, kvStride: kvWidth,
                    scale: scale, causalOffset: p, window: window, bias: nil, allowBF16: allowBF16, pool: pool)
            } else {
                TandemKernels.Attention.attend(
                    query: q.buffer.baseAddress! + row * qWidth, keys: s.state.keys[l].buffer.baseAddress!,
                    values: s.state.values[l].buffer.baseAddress!, output: out.mutable.baseAddress! + row * qWidth,
                    shape: AttentionShape(queries: s.rows, keys: p + s.rows, heads: heads, kvHeads: kvHeads, headDim: headDim),
                    scale: scale, mask: AttentionMask(causal: true, queryOffset: p, window: window), pool: pool)
            }
            row += s.rows
        }
    }

    /// The end of a forward pass: advances every segment's cache position, normalises the last
    /// row of each segment — or, with `logitsFrom`, every row of the one segment from there on —
    /// with `normalize(row, into:)`, and applies the head.
    func logitsOfLastRows(
        _ x: FloatBuffer, segments: [(state: CausalState, rows: Int)], width d: Int, head: Linear, pool: ThreadPool,
        tracer: ForwardTracer?, logitsFrom: Int? = nil, normalize: (UnsafeBufferPointer<Float>, UnsafeMutableBufferPointer<Float>) -> Void
    ) -> FloatBuffer {
        for s in segments { s.state.position += s.rows }
        let last: FloatBuffer, count: Int
        if let from = logitsFrom {
            precondition(segments.count == 1 && from >= 0 && from < segments[0].rows, "logits from row \(from) of one segment")
            count = segments[0].rows - from
            last = FloatBuffer(count: count * d, zeroed: false)
            _ = last.mutable.update(fromContentsOf: x.mutable[from * d..<segments[0].rows * d])
        } else {
            count = segments.count
            last = lastRows(x, segments: segments, width: d)
        }
        let normed = FloatBuffer(count: count * d)
        for r in 0..<count {
            normalize(UnsafeBufferPointer(rebasing: last.buffer[r * d..<(r + 1) * d]), normed.rows(r..<r + 1, width: d))
        }
        let logits = FloatBuffer(count: count * vocabularySize)
        head(normed.buffer, rows: count, into: logits.mutable, pool: pool, decoding: logitsFrom == nil && isDecodingStep(segments))
        tracer?.record("logits", logits.buffer, shape: [count, vocabularySize])
        return logits
    }

    /// The last row of each segment, gathered.
    func lastRows(_ x: FloatBuffer, segments: [(state: CausalState, rows: Int)], width: Int) -> FloatBuffer {
        let out = FloatBuffer(count: segments.count * width)
        var end = 0
        for (i, s) in segments.enumerated() {
            end += s.rows
            _ = out[i * width..<(i + 1) * width].update(fromContentsOf: x.mutable[(end - 1) * width..<end * width])
        }
        return out
    }
}
