// T5 forward pass: encoder (bidirectional relative-position bias, computed once in layer 0 and
// shared by all layers), decoder (causal self-attention over a KV cache; cross-attention keys and
// values computed once per input and cached). Follows Hugging Face `modeling_t5.py`: RMS norm
// without mean or bias, no 1/√d attention scale, ReLU (v1.0) or gelu_new-gated (v1.1) FFN, and a
// head tied to `shared` scaled by d_model^-0.5 (v1.0) or an untied `lm_head` (v1.1 / Flan-T5).
import TandemFormat
import TandemKernels

public final class T5Model: @unchecked Sendable {
    public let config: T5Config
    public let weights: ModelWeights
    public let pool: ThreadPool
    let epsilon: Float
    let inner: Int
    let shared: Embedding                          // [vocab, d]
    let encoder: [EncoderLayer]
    let decoder: [DecoderLayer]
    let encoderFinalNorm: UnsafeBufferPointer<Float>    // [d]
    let decoderFinalNorm: UnsafeBufferPointer<Float>?   // [d]
    let encoderBias: UnsafeBufferPointer<Float>         // [buckets, heads]
    let decoderBias: UnsafeBufferPointer<Float>?        // [buckets, heads]
    let head: Linear?                                   // [vocab, d]: lm_head, or `shared` when tied
    /// d_model^-0.5 for a tied head (v1.0), 1 otherwise.
    let headScale: Float

    struct Attention {
        var q, k, v: Linear                    // [heads·d_kv, d]
        var o: Linear                          // [d, heads·d_kv]
        var norm: UnsafeBufferPointer<Float>   // [d]
    }

    struct FeedForward {
        var wi: Linear?                        // [d_ff, d] (v1.0)
        var wi0: Linear?                       // [d_ff, d] (v1.1, gated)
        var wi1: Linear?                       // [d_ff, d] (v1.1, gated)
        var wo: Linear                         // [d, d_ff]
        var norm: UnsafeBufferPointer<Float>   // [d]
    }

    struct EncoderLayer {
        var attention: Attention
        var ffn: FeedForward
    }

    struct DecoderLayer {
        var selfAttention: Attention
        var crossAttention: Attention
        var ffn: FeedForward
    }

    /// Builds the model from a file. With `encoderOnly`, the decoder and head are not required
    /// (an LLM-to-SLM bundle stores only the LLM's encoder).
    public init(weights: ModelWeights, config: T5Config, encoderOnly: Bool = false, pool: ThreadPool) throws(ModelError) {
        self.config = config
        self.weights = weights
        self.pool = pool
        inner = config.numHeads * config.dKV
        epsilon = config.layerNormEpsilon ?? 1e-6
        let w = weights, t = T5Tensors(config)
        func attention(_ a: T5Tensors.Attention) throws(ModelError) -> Attention {
            Attention(q: try w.linear(a.q), k: try w.linear(a.k), v: try w.linear(a.v), o: try w.linear(a.o), norm: try w.vector(a.norm))
        }
        func ffn(_ f: T5Tensors.FeedForward) throws(ModelError) -> FeedForward {
            func optional(_ e: ExpectedTensor?) throws(ModelError) -> Linear? { if let e { try w.linear(e) } else { nil } }
            return FeedForward(wi: try optional(f.wi), wi0: try optional(f.wi0), wi1: try optional(f.wi1), wo: try w.linear(f.wo),
                               norm: try w.vector(f.norm))
        }
        shared = try w.embedding(t.shared)
        var enc: [EncoderLayer] = []
        for b in t.encoder { enc.append(EncoderLayer(attention: try attention(b.selfAttention), ffn: try ffn(b.ffn))) }
        encoder = enc
        encoderFinalNorm = try w.vector(t.encoderFinalNorm)
        encoderBias = try w.vector(t.encoder[0].selfAttention.relativeBias!)
        if encoderOnly {
            decoder = []
            decoderFinalNorm = nil
            decoderBias = nil
            head = nil
            headScale = 1
            return
        }
        var dec: [DecoderLayer] = []
        for b in t.decoder {
            dec.append(DecoderLayer(selfAttention: try attention(b.selfAttention), crossAttention: try attention(b.crossAttention),
                                    ffn: try ffn(b.ffn)))
        }
        decoder = dec
        decoderFinalNorm = try w.vector(t.decoderFinalNorm)
        decoderBias = try w.vector(t.decoder[0].selfAttention.relativeBias!)
        head = w.has(t.lmHead) ? try w.linear(t.lmHead) : Linear(weight: shared.matrix)
        // Hugging Face scales the decoder output before a tied head (Mesh TensorFlow's convention).
        let scale = config.scaleDecoderOutputs ?? config.tied
        headScale = scale ? 1 / Float(config.dModel).squareRoot() : 1
    }

    public var vocabularySize: Int { config.vocabSize }
    public var modelDimension: Int { config.dModel }
    /// Input tokens read at most (the config's `n_positions`, else 512), `</s>` included.
    public var maxInputTokens: Int { config.nPositions ?? 512 }

    /// Bytes of the weight copies batched decoding makes, at most: every quantized matrix (an
    /// encoder pass over a short prompt is a small batch too).
    public var prepackedBytes: Int {
        func sum(_ a: Attention) -> Int { [a.q, a.k, a.v, a.o].reduce(0) { $0 + $1.prepackedBytes } }
        func sum(_ f: FeedForward) -> Int { [f.wi, f.wi0, f.wi1, f.wo].compactMap { $0 }.reduce(0) { $0 + $1.prepackedBytes } }
        return encoder.reduce(0) { $0 + sum($1.attention) + sum($1.ffn) }
            + decoder.reduce(0) { $0 + sum($1.selfAttention) + sum($1.crossAttention) + sum($1.ffn) } + (head?.prepackedBytes ?? 0)
    }

    /// Bytes the encoder's pass over `m` tokens works in: its activations (`encode(embeddings:)`),
    /// the per-distance bias, the attention tasks' score rows, and the keys and values the
    /// cross-attention cache is computed from.
    public func workingBytes(promptTokens m: Int) -> Int {
        let c = config, threads = pool.threadCount
        let activations = m * (3 * c.dModel + 4 * inner + 2 * c.dFF) + c.numHeads * (2 * m - 1)
        return 4 * (activations + 2 * m * inner) + PrefillAttention.scratchBytes(keys: m, headDim: c.dKV, threads: threads)
    }

    /// Bytes of one sequence's decoder state for `m` input tokens and `steps` decoder steps: the
    /// self-attention cache (f32, grown by doubling), the cross-attention keys and values in the
    /// format this model keeps them (f32, f16, or int8 with a scale per row and head).
    public func decoderStateBytes(inputTokens m: Int, steps: Int) -> Int {
        let layers = config.decoderLayers
        let selfCache = layers * 2 * allocatedPositions(steps, first: DecoderState.initialSteps) * inner * 4
        let weightType = decoder.first?.crossAttention.k.weight.dtype ?? .f32
        let cross = weightType.isQuantized ? 2 * m * inner + 2 * config.numHeads * m * 4 : 2 * m * inner * (weightType == .f16 ? 2 : 4)
        return selfCache + layers * cross
    }

    // MARK: Encoder

    /// Embeds `ids` (checked against the vocabulary) into `m × d_model` floats.
    public func embed(_ ids: [Int32]) throws(ModelError) -> FloatBuffer {
        try shared.embed(ids)
    }

    /// The encoder over prompt token ids: `m × d_model` floats after the final RMS norm.
    public func encode(_ ids: [Int32], tracer: ForwardTracer? = nil) throws(ModelError) -> FloatBuffer {
        guard !ids.isEmpty else { throw .emptyInput }
        return encode(embeddings: try embed(ids), count: ids.count, tracer: tracer)
    }

    /// The encoder over given input embeddings (`E[x]`, or `E_slm[x] + Z` in an LLM-to-SLM pair).
    public func encode(embeddings x: FloatBuffer, count m: Int, tracer: ForwardTracer? = nil) -> FloatBuffer {
        let d = config.dModel, ff = config.dFF, heads = config.numHeads
        let h = FloatBuffer(count: m * d)
        let q = FloatBuffer(count: m * inner), k = FloatBuffer(count: m * inner), v = FloatBuffer(count: m * inner)
        let attn = FloatBuffer(count: m * inner)
        let proj = FloatBuffer(count: m * d)
        let a = FloatBuffer(count: m * ff), b = FloatBuffer(count: config.isGated ? m * ff : 1)
        let bias = FloatBuffer(count: heads * (2 * m - 1))
        T5RelativePosition.biasByDistance(
            table: encoderBias, heads: heads, queries: m, keys: m, bidirectional: true,
            numBuckets: config.relativeAttentionNumBuckets, maxDistance: config.relativeAttentionMaxDistance ?? 128,
            into: bias.mutable)
        tracer?.record("encoder.embeddings", x.buffer, shape: [m, d])
        for (i, layer) in encoder.enumerated() {
            let l = layer.attention
            Ops.rmsNormRows(x.buffer, rows: m, width: d, weight: l.norm, epsilon: epsilon, into: h.mutable, pool: pool)
            Linear.apply([l.q, l.k, l.v], h.buffer, rows: m, into: [q.mutable, k.mutable, v.mutable], pool: pool)
            PrefillAttention.attend(
                q: q.buffer.baseAddress!, k: k.buffer.baseAddress!, v: v.buffer.baseAddress!, out: attn.mutable.baseAddress!,
                queries: m, keys: m, heads: heads, kvHeads: heads, headDim: config.dKV, kvStride: inner,
                scale: 1, causalOffset: nil, bias: bias.buffer.baseAddress!, allowBF16: l.q.weight.dtype.isQuantized, pool: pool)
            addProduct(l.o, attn.buffer, rows: m, to: x, scratch: proj, pool: pool)
            feedForward(layer.ffn, x: x, rows: m, h: h, a: a, b: b, out: proj)
            tracer?.record("encoder.block.\(i)", x.buffer, shape: [m, d])
        }
        Ops.rmsNormRows(x.buffer, rows: m, width: d, weight: encoderFinalNorm, epsilon: epsilon, into: h.mutable, pool: pool)
        tracer?.record("encoder.output", h.buffer, shape: [m, d])
        return h
    }

    /// x += FFN(RMSNorm(x)) for `rows` rows; `h`, `a`, `b`, `out` are scratch.
    func feedForward(_ f: FeedForward, x: FloatBuffer, rows: Int, h: FloatBuffer, a: FloatBuffer, b: FloatBuffer, out: FloatBuffer,
                     decoding: Bool = false) {
        let d = config.dModel, ff = config.dFF
        Ops.rmsNormRows(x.buffer, rows: rows, width: d, weight: f.norm, epsilon: epsilon, into: h.mutable, pool: pool)
        let act = a.rows(0..<rows, width: ff)
        let kind = config.feedForwardProj ?? "relu"
        if let wi = f.wi, kind == "relu", wi.fuses(rows: rows) {
            // ReLU as the tile GEMM stores its outputs: one pass over the 4·d-wide rows fewer.
            wi(h.buffer, rows: rows, into: a.mutable, epilogue: .relu, pool: pool)
        } else if let wi = f.wi {
            wi(h.buffer, rows: rows, into: a.mutable, pool: pool, decoding: decoding)
            pool.shareOut(act.count) { range in
                let part = UnsafeMutableBufferPointer(rebasing: act[range])
                switch kind {
                case "gelu": Ops.geluErf(part)      // HF ACT2FN["gelu"] is the exact (erf) form
                case "gelu_new": Ops.gelu(part)     // tanh approximation
                default: Ops.relu(part)
                }
            }
        } else {
            Linear.apply([f.wi0!, f.wi1!], h.buffer, rows: rows, into: [a.mutable, b.mutable], pool: pool, decoding: decoding)
            let gatedRelu = kind == "gated-relu", up = b.mutable
            pool.shareOut(act.count) { range in
                let part = UnsafeMutableBufferPointer(rebasing: act[range])
                if gatedRelu {
                    Ops.relu(part)
                    for i in range { act[i] *= up[i] }
                } else {
                    Ops.gatedGelu(gate: part, up: UnsafeBufferPointer(rebasing: up[range]))
                }
            }
        }
        addProduct(f.wo, UnsafeBufferPointer(act), rows: rows, to: x, scratch: out, pool: pool, decoding: decoding)
    }

    // MARK: Decoder

    /// Cross-attention of one query per sequence over its cached encoder keys and values (no
    /// position bias, no 1/√d scale in T5): per (sequence, head), scores = Kₕ·q and
    /// out = Vₕᵀ·softmax(scores), two GEMVs (f32 or f16 cache); (sequence, head) pairs run in parallel.
    func crossAttend(_ states: [DecoderState], layer l: Int, q: FloatBuffer, out: FloatBuffer) {
        let heads = config.numHeads, dkv = config.dKV, width = inner
        let qBase = q.buffer.baseAddress!, outBase = out.mutable.baseAddress!
        pool.parallelFor(states.count * heads) { range in
            for item in range {
                let s = states[item / heads], h = item % heads, m = s.inputLength
                withUnsafeTemporaryAllocation(of: Float.self, capacity: m) { scores in
                    if s.crossFormat == .int8 {
                        let k = UnsafeRawPointer(s.crossK[l].buffer.baseAddress!).assumingMemoryBound(to: Int8.self)
                        let v = UnsafeRawPointer(s.crossV[l].buffer.baseAddress!).assumingMemoryBound(to: Int8.self)
                        let scales = s.crossScales[l].buffer.baseAddress!
                        let row = (item / heads) * width + h * dkv
                        TandemKernels.Attention.attendHead(
                            query: qBase + row, keys: k + h * m * dkv, keyScales: scales + h * m,
                            values: v + h * m * dkv, valueScales: scales + (heads + h) * m, count: m, headDim: dkv,
                            scores: scores.baseAddress!, output: outBase + row)
                        return
                    }
                    let dt: DType = s.crossFormat == .f16 ? .f16 : .f32, size = dt == .f16 ? 2 : 4
                    let k = WeightMatrix(dtype: dt, rows: m, columns: dkv, data: UnsafeRawPointer(s.crossK[l].buffer.baseAddress!) + h * m * dkv * size)
                    let v = WeightMatrix(dtype: dt, rows: dkv, columns: m, data: UnsafeRawPointer(s.crossV[l].buffer.baseAddress!) + h * dkv * m * size)
                    let query = UnsafeBufferPointer(start: qBase + (item / heads) * width + h * dkv, count: dkv)
                    MatMul.gemv(k, x: query, y: scores, pool: .inline)
                    Ops.softmax(scores)
                    MatMul.gemv(v, x: UnsafeBufferPointer(scores), y: UnsafeMutableBufferPointer(start: outBase + (item / heads) * width + h * dkv, count: dkv), pool: .inline)
                }
            }
        }
    }

    /// How a decoder state keeps its cross-attention keys and values: as computed (f32 model),
    /// in f16 (f16 model), or in int8 with one scale per cached position and head (q8_0/q4_0).
    ///
    /// Every decode step streams the whole cache, once per sequence: for t5-small at batch 8 over
    /// 400-token inputs that is 39 MB a step in f16 — as many bytes as the decoder's weights — and
    /// for t5-large at 512 inputs 50 MB against 390 MB of weights. A quantized model's weights carry
    /// a rounding error of the same order as int8 rows (q8_0: one scale per 32 weights), so its
    /// cache goes to int8, half of f16; an f32 model stays exact against the reference.
    public enum CrossCacheFormat: Sendable { case f32, f16, int8 }

    /// Decoder state of one sequence: cross-attention K/V computed once from the encoder output,
    /// and the self-attention cache, which grows by one position per step.
    public final class DecoderState: @unchecked Sendable {
        public let inputLength: Int
        /// Decoder steps the self-attention cache holds now; it grows (doubling) as decoding
        /// goes on, so a generous `maxSteps` costs memory only for the steps actually taken.
        public private(set) var capacity: Int
        public private(set) var position = 0
        /// Per layer: keys as [heads, m, d_kv] and values — transposed as [heads, d_kv, m] in f32
        /// and f16, as [heads, m, d_kv] in int8 — in `crossFormat` (f16 and int8 values packed two
        /// and four to a float slot of the buffers). For int8, `crossScales[l]` holds the keys'
        /// row scales [heads, m] followed by the values' [heads, m]; it is empty otherwise.
        let crossK: [FloatBuffer], crossV: [FloatBuffer]
        let crossScales: [FloatBuffer]
        let crossFormat: CrossCacheFormat
        private(set) var selfK: [FloatBuffer], selfV: [FloatBuffer]

        init(inputLength: Int, capacity: Int, crossK: [FloatBuffer], crossV: [FloatBuffer], crossScales: [FloatBuffer],
             crossFormat: CrossCacheFormat, selfK: [FloatBuffer], selfV: [FloatBuffer]) {
            self.inputLength = inputLength
            self.crossFormat = crossFormat
            self.crossScales = crossScales
            self.capacity = capacity
            self.crossK = crossK
            self.crossV = crossV
            self.selfK = selfK
            self.selfV = selfV
        }

        /// Steps allocated up front, however many are asked for (256 steps of t5-large's decoder
        /// are 48 MiB; a million would be 183 GiB).
        static let initialSteps = 256

        func advance() { position += 1 }

        /// Makes room for `steps` steps, keeping the cached ones.
        func reserve(_ steps: Int) {
            guard steps > capacity else { return }
            let grown = max(steps, 2 * capacity)
            let width = (selfK.first?.count ?? 0) / max(capacity, 1)
            func moved(_ old: FloatBuffer) -> FloatBuffer {
                let b = FloatBuffer(count: grown * width)
                b.mutable.baseAddress!.update(from: old.mutable.baseAddress!, count: position * width)
                return b
            }
            selfK = selfK.map(moved)
            selfV = selfV.map(moved)
            capacity = grown
        }

        /// A copy (for beam search, where beams fork).
        public func copy() -> DecoderState {
            func dup(_ b: [FloatBuffer]) -> [FloatBuffer] { b.map { FloatBuffer($0.array) } }
            let s = DecoderState(inputLength: inputLength, capacity: capacity, crossK: crossK, crossV: crossV,
                                 crossScales: crossScales, crossFormat: crossFormat, selfK: dup(selfK), selfV: dup(selfV))
            s.position = position
            return s
        }

        /// Overwrites this state's self-attention cache with `other`'s (beam reordering).
        public func assign(from other: DecoderState) {
            precondition(other.inputLength == inputLength)
            let n = other.position * (other.selfK.first?.count ?? 0) / max(other.capacity, 1)
            reserve(other.position)
            for l in selfK.indices {
                selfK[l].mutable.baseAddress!.update(from: other.selfK[l].mutable.baseAddress!, count: n)
                selfV[l].mutable.baseAddress!.update(from: other.selfV[l].mutable.baseAddress!, count: n)
            }
            position = other.position
        }
    }

    /// Prepares decoding from an encoder output of `m` rows, for up to `maxSteps` decoder steps
    /// (the start token included). Cross-attention keys and values are computed here, once; the
    /// self-attention cache starts at `DecoderState.initialSteps` steps at most and grows.
    public func makeDecoderState(encoderOutput: FloatBuffer, length m: Int, maxSteps: Int) -> DecoderState {
        let steps = min(maxSteps, DecoderState.initialSteps)
        var ck: [FloatBuffer] = [], cv: [FloatBuffer] = [], sk: [FloatBuffer] = [], sv: [FloatBuffer] = []
        let input = UnsafeBufferPointer(rebasing: encoderOutput.buffer[0..<m * config.dModel])
        let weightType = decoder.first?.crossAttention.k.weight.dtype ?? .f32
        let format: CrossCacheFormat = weightType.isQuantized ? .int8 : weightType == .f16 ? .f16 : .f32
        let crossDType: DType = format == .f16 ? .f16 : .f32
        let heads = config.numHeads, dkv = config.dKV
        let k = FloatBuffer(count: m * inner), v = FloatBuffer(count: m * inner)
        let vtF32 = FloatBuffer(count: format == .f16 ? m * inner : 1)
        var scales: [FloatBuffer] = []
        for layer in decoder {
            sk.append(FloatBuffer(count: steps * inner))
            sv.append(FloatBuffer(count: steps * inner))
            Linear.apply([layer.crossAttention.k, layer.crossAttention.v], input, rows: m, into: [k.mutable, v.mutable], pool: pool)
            if format == .int8 {
                // Per head, its rows quantized straight from the projection's [m, inner] output.
                let kq = FloatBuffer(count: (m * inner + 3) / 4), vq = FloatBuffer(count: (m * inner + 3) / 4)
                let sc = FloatBuffer(count: 2 * heads * m)
                // (Key or value, head) pairs in parallel: one thread's loop was ~2 % of a t5-large
                // encoder pass.
                let parts = [(k, kq, 0), (v, vq, heads * m)]
                pool.parallelFor(2 * heads) { items in
                    for item in items {
                        let (source, target, at) = parts[item / heads], h = item % heads
                        let dst = UnsafeMutableRawPointer(target.mutable.baseAddress!).assumingMemoryBound(to: Int8.self)
                        TandemKernels.Attention.quantizeRows(
                            source.buffer.baseAddress! + h * dkv, rows: m, width: dkv, stride: inner,
                            into: dst + h * m * dkv, scales: sc.mutable.baseAddress! + at + h * m)
                    }
                }
                ck.append(kq)
                cv.append(vq)
                scales.append(sc)
                continue
            }
            // Laid out per head — Kₕ as [m, d_kv], Vₕᵀ as [d_kv, m] — so each decode step's
            // cross-attention is two GEMVs per head that stream the cache once.
            let slots = crossDType == .f16 ? (m * inner + 1) / 2 : m * inner
            let kh = FloatBuffer(count: slots), vt = FloatBuffer(count: slots)
            let src = k.mutable.baseAddress!, vsrc = v.mutable.baseAddress!
            let vtOut = crossDType == .f16 ? vtF32.mutable.baseAddress! : vt.mutable.baseAddress!
            for j in 0..<m {
                for h in 0..<heads {
                    let row = src + j * inner + h * dkv
                    if crossDType == .f16 {
                        let dst = UnsafeMutableRawPointer(kh.mutable.baseAddress!).assumingMemoryBound(to: UInt16.self)
                        MatMul.convertToF16(row, into: dst + (h * m + j) * dkv, count: dkv)
                    } else {
                        (kh.mutable.baseAddress! + (h * m + j) * dkv).update(from: row, count: dkv)
                    }
                    let vrow = vsrc + j * inner + h * dkv
                    for e in 0..<dkv { vtOut[(h * dkv + e) * m + j] = vrow[e] }
                }
            }
            if crossDType == .f16 {
                let dst = UnsafeMutableRawPointer(vt.mutable.baseAddress!).assumingMemoryBound(to: UInt16.self)
                MatMul.convertToF16(vtOut, into: dst, count: m * inner)
            }
            ck.append(kh)
            cv.append(vt)
        }
        return DecoderState(inputLength: m, capacity: steps, crossK: ck, crossV: cv, crossScales: scales, crossFormat: format,
                            selfK: sk, selfV: sv)
    }

    /// One decoder step for several sequences at once: token `tokens[i]` is fed to `states[i]`
    /// at its current position. Every linear layer runs once over all rows (one weight read serves
    /// the batch); attention runs per sequence. Returns `states.count × vocabulary` logits.
    public func decodeStep(_ states: [DecoderState], tokens: [Int32], tracer: ForwardTracer? = nil) throws(ModelError) -> FloatBuffer {
        let n = states.count
        precondition(n == tokens.count && n > 0)
        let d = config.dModel, ff = config.dFF, heads = config.numHeads, dkv = config.dKV
        for s in states { s.reserve(s.position + 1) }
        let x = try embed(tokens)
        let h = FloatBuffer(count: n * d), q = FloatBuffer(count: n * inner)
        let k = FloatBuffer(count: n * inner), v = FloatBuffer(count: n * inner)
        let attn = FloatBuffer(count: n * inner), proj = FloatBuffer(count: n * d)
        let a = FloatBuffer(count: n * ff), b = FloatBuffer(count: config.isGated ? n * ff : 1)
        // Position bias of each sequence's query over its keys 0...position (causal buckets).
        let biases = states.map { s -> FloatBuffer in
            let keys = s.position + 1
            let bias = FloatBuffer(count: heads * keys)
            T5RelativePosition.bias(
                table: decoderBias!, heads: heads, queries: 1, keys: keys, queryOffset: s.position, bidirectional: false,
                numBuckets: config.relativeAttentionNumBuckets, maxDistance: config.relativeAttentionMaxDistance ?? 128,
                into: bias.mutable)
            return bias
        }
        for (l, layer) in decoder.enumerated() {
            let sa = layer.selfAttention
            Ops.rmsNormRows(x.buffer, rows: n, width: d, weight: sa.norm, epsilon: epsilon, into: h.mutable, pool: pool)
            Linear.apply([sa.q, sa.k, sa.v], h.buffer, rows: n, into: [q.mutable, k.mutable, v.mutable], pool: pool, decoding: true)
            for (i, s) in states.enumerated() {
                let p = s.position
                _ = s.selfK[l][p * inner..<(p + 1) * inner].update(fromContentsOf: k.mutable[i * inner..<(i + 1) * inner])
                _ = s.selfV[l][p * inner..<(p + 1) * inner].update(fromContentsOf: v.mutable[i * inner..<(i + 1) * inner])
            }
            // One sequence's step attention is too small to split (8 heads over a few dozen keys),
            // so a batch splits over its sequences instead: one hand-off per layer, not one per
            // sequence that then ran on the calling thread alone (≈ 10 % of a batch-8 step).
            let attendRange = { (range: Range<Int>, pool: ThreadPool) in
                for i in range {
                    let s = states[i]
                    TandemKernels.Attention.attend(
                        query: q.buffer.baseAddress! + i * self.inner, keys: s.selfK[l].buffer.baseAddress!,
                        values: s.selfV[l].buffer.baseAddress!, output: attn.mutable.baseAddress! + i * self.inner,
                        shape: AttentionShape(queries: 1, keys: s.position + 1, heads: heads, headDim: dkv), scale: 1,
                        bias: biases[i].buffer.baseAddress!, pool: pool)
                }
            }
            if n == 1 {
                attendRange(0..<1, pool)
            } else {
                pool.parallelFor(n) { attendRange($0, .inline) }
            }
            sa.o(attn.buffer, rows: n, into: proj.mutable, pool: pool, decoding: true)
            Ops.addInPlace(x.mutable, proj.buffer, count: n * d, pool: pool)

            let ca = layer.crossAttention
            Ops.rmsNormRows(x.buffer, rows: n, width: d, weight: ca.norm, epsilon: epsilon, into: h.mutable, pool: pool)
            ca.q(h.buffer, rows: n, into: q.mutable, pool: pool, decoding: true)
            crossAttend(states, layer: l, q: q, out: attn)
            ca.o(attn.buffer, rows: n, into: proj.mutable, pool: pool, decoding: true)
            Ops.addInPlace(x.mutable, proj.buffer, count: n * d, pool: pool)
            feedForward(layer.ffn, x: x, rows: n, h: h, a: a, b: b, out: proj, decoding: true)
            tracer?.record("decoder.block.\(l)", x.buffer, shape: [n, d])
        }
        for s in states { s.advance() }
        Ops.rmsNormRows(x.buffer, rows: n, width: d, weight: decoderFinalNorm!, epsilon: epsilon, into: h.mutable, pool: pool)
        if headScale != 1 { for i in 0..<n * d { h.mutable[i] *= headScale } }
        tracer?.record("decoder.output", h.buffer, shape: [n, d])
        let logits = FloatBuffer(count: n * config.vocabSize, zeroed: false)
        head!(h.buffer, rows: n, into: logits.mutable, pool: pool, decoding: true)
        tracer?.record("logits", logits.buffer, shape: [n, config.vocabSize])
        return logits
    }
}
