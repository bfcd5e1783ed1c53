// The activation buffer every forward pass and kernel op passes around.

/// A heap buffer of floats with a stable address, for activations and caches (no copy-on-write,
/// no exclusivity juggling in the forward pass).
public final class FloatBuffer: @unchecked Sendable {
    public let mutable: UnsafeMutableBufferPointer<Float>
    public var count: Int { mutable.count }
    public var buffer: UnsafeBufferPointer<Float> { UnsafeBufferPointer(mutable) }

    /// `zeroed: false` leaves the floats as the allocator gave them, for an output that a product
    /// overwrites whole (a decoder step's logits: 1 MB at batch 8 over t5-small's vocabulary).
    public init(count: Int, zeroed: Bool = true) {
        mutable = .allocate(capacity: max(count, 1))
        if zeroed { mutable.initialize(repeating: 0) }
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        _ = mutable.initialize(from: values)
    }

    deinit { mutable.deallocate() }

    /// self[i] += other[i] for the first `count` elements, shared out over `pool` when long.
    public func add(_ other: FloatBuffer, count: Int, pool: ThreadPool) {
        Ops.addInPlace(mutable, other.buffer, count: count, pool: pool)
    }

    public subscript(range: Range<Int>) -> UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(rebasing: mutable[range]) }
    public func rows(_ r: Range<Int>, width: Int) -> UnsafeMutableBufferPointer<Float> { self[r.lowerBound * width..<r.upperBound * width] }
    public var array: [Float] { Array(mutable) }
}
