// Element-wise and row-wise passes over a prompt's activations, shared out over a pool when they
// are long enough to pay for the hand-off: the non-product part of an encoder or prompt pass.

extension ThreadPool {
    /// Below this many floats an element-wise pass runs on the calling thread: a hand-off to the
    /// pool costs more than it saves (a decode step's few rows).
    public static let parallelElementwiseMinimum = 1 << 16

    /// `body` over [0, count) — on the pool's threads in ranges of whole multiples of 64 when the
    /// pass touches at least `parallelElementwiseMinimum` floats (`floats`, default `count`), else
    /// on the calling thread in one range. Why: an encoder pass's norms, residual adds and
    /// activations ran on one thread while the others waited (t5-large, 512 tokens: ~2 M floats of
    /// ReLU per layer). Multiples of 64 keep a vector kernel's tail where one call would have it,
    /// so the floats are the same either way.
    public func shareOut(_ count: Int, floats: Int? = nil, _ body: (Range<Int>) -> Void) {
        if (floats ?? count) < Self.parallelElementwiseMinimum {
            if count > 0 { body(0..<count) }
        } else {
            parallelFor(count, alignment: 64, body)
        }
    }
}

extension Ops {
    /// RMS norm of each of `rows` rows of `width`, the rows shared out over `pool` when there are
    /// many (a prompt or encoder pass); a decode step's few rows stay on the calling thread.
    public static func rmsNormRows(
        _ x: UnsafeBufferPointer<Float>, rows: Int, width: Int, weight: UnsafeBufferPointer<Float>, epsilon: Float,
        into y: UnsafeMutableBufferPointer<Float>, pool: ThreadPool
    ) {
        pool.shareOut(rows, floats: rows * width) { range in
            for r in range {
                Ops.rmsNorm(UnsafeBufferPointer(rebasing: x[r * width..<(r + 1) * width]), weight: weight, epsilon: epsilon,
                            into: UnsafeMutableBufferPointer(rebasing: y[r * width..<(r + 1) * width]))
            }
        }
    }

    /// x += y, element-wise over the first `count` floats, shared out over `pool` when long.
    public static func addInPlace(_ x: UnsafeMutableBufferPointer<Float>, _ y: UnsafeBufferPointer<Float>, count: Int, pool: ThreadPool) {
        pool.shareOut(count) { range in
            for i in range { x[i] += y[i] }
        }
    }
}
