// XXH64 (Yann Collet's xxHash, 64-bit variant), written from the published algorithm
// description. Used for per-tensor checksums and the header checksum: fast enough to verify a
// whole model at memory speed, and a well-known function other tools can recompute.

@usableFromInline let xxPrime1: UInt64 = 0x9E37_79B1_85EB_CA87
@usableFromInline let xxPrime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
@usableFromInline let xxPrime3: UInt64 = 0x1656_67B1_9E37_79F9
@usableFromInline let xxPrime4: UInt64 = 0x85EB_CA77_C2B2_AE63
@usableFromInline let xxPrime5: UInt64 = 0x27D4_EB2F_1656_67C5

@inline(__always) private func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }

@inline(__always) private func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
    rotl(acc &+ input &* xxPrime2, 31) &* xxPrime1
}

@inline(__always) private func mergeRound(_ acc: UInt64, _ val: UInt64) -> UInt64 {
    (acc ^ round(0, val)) &* xxPrime1 &+ xxPrime4
}

/// Streaming XXH64. Feed bytes with `update`, read the digest with `finalize`.
public struct XXH64: Sendable {
    private var v1, v2, v3, v4: UInt64
    private let seed: UInt64
    private var total: UInt64 = 0
    private var buffer: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private var buffered = 0

    public init(seed: UInt64 = 0) {
        self.seed = seed
        v1 = seed &+ xxPrime1 &+ xxPrime2
        v2 = seed &+ xxPrime2
        v3 = seed
        v4 = seed &- xxPrime1
    }

    /// One-shot digest of a buffer.
    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        var h = XXH64(seed: seed)
        h.update(bytes)
        return h.finalize()
    }

    public static func hash(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 {
        bytes.withUnsafeBytes { hash($0, seed: seed) }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        let n = bytes.count
        var p = 0
        total &+= UInt64(n)
        if buffered > 0 {
            let take = min(32 - buffered, n)
            let start = buffered
            withUnsafeMutableBytes(of: &buffer) { buf in
                buf.baseAddress!.advanced(by: start).copyMemory(from: base, byteCount: take)
            }
            buffered += take
            p = take
            if buffered < 32 { return }
            let stripe = buffer
            withUnsafeBytes(of: stripe) { consumeStripe($0.baseAddress!) }
            buffered = 0
        }
        while n - p >= 32 {
            consumeStripe(base + p)
            p += 32
        }
        if p < n {
            let rest = n - p
            withUnsafeMutableBytes(of: &buffer) { buf in
                buf.baseAddress!.copyMemory(from: base + p, byteCount: rest)
            }
            buffered = rest
        }
    }

    @inline(__always) private mutating func consumeStripe(_ p: UnsafeRawPointer) {
        v1 = round(v1, UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)))
        v2 = round(v2, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        v3 = round(v3, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
        v4 = round(v4, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 24, as: UInt64.self)))
    }

    public func finalize() -> UInt64 {
        var h: UInt64
        if total >= 32 {
            h = rotl(v1, 1) &+ rotl(v2, 7) &+ rotl(v3, 12) &+ rotl(v4, 18)
            h = mergeRound(h, v1)
            h = mergeRound(h, v2)
            h = mergeRound(h, v3)
            h = mergeRound(h, v4)
        } else {
            h = seed &+ xxPrime5
        }
        h &+= total
        var tail = buffer
        let count = buffered
        withUnsafeBytes(of: &tail) { raw in
            var p = 0
            while p + 8 <= count {
                let k = round(0, UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: p, as: UInt64.self)))
                h = rotl(h ^ k, 27) &* xxPrime1 &+ xxPrime4
                p += 8
            }
            if p + 4 <= count {
                let k = UInt64(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: p, as: UInt32.self)))
                h = rotl(h ^ (k &* xxPrime1), 23) &* xxPrime2 &+ xxPrime3
                p += 4
            }
            while p < count {
                h = rotl(h ^ (UInt64(raw[p]) &* xxPrime5), 11) &* xxPrime1
                p += 1
            }
        }
        h ^= h >> 33
        h &*= xxPrime2
        h ^= h >> 29
        h &*= xxPrime3
        h ^= h >> 32
        return h
    }
}
