// A vocabulary's byte strings — the spellings, or the bytes tokens decode to — stored end to end
// in one buffer, and the spelling → id index over them. As `[String?]`, `[[UInt8]]` and
// `[ByteString: Int32]`, Qwen2's 151,936 entries took about 20 MB of array headers, small
// allocations and hash buckets for 2 MB of bytes; here they take the bytes, 4 bytes an entry
// and a table of 4-byte slots. That memory is the process's for the whole run, 5 % of what
// `summarize --max-memory 400M` has for Qwen2.5-Coder-0.5B.

/// Byte strings by id, end to end in one buffer; an id may have none (an unused id).
struct ByteTable: Sendable {
    private var storage: [UInt8] = []
    /// Entry i is `storage[ends[i - 1]..<ends[i]]` (from 0 for the first).
    private var ends: [UInt32] = []
    /// Which ids have an entry (an unused id and an empty entry both span no bytes).
    private var present: [Bool] = []

    /// `count` entries, each appended by `append(i, &storage)`, which returns false for an
    /// unused id. `byteCount`, when known, sizes the buffer exactly (else it grows as needed).
    init(count: Int, byteCount: Int? = nil, _ append: (Int, inout [UInt8]) -> Bool) {
        ends.reserveCapacity(count)
        present.reserveCapacity(count)
        storage.reserveCapacity(byteCount ?? 8 * count)
        for i in 0..<count {
            present.append(append(i, &storage))
            ends.append(UInt32(storage.count))
        }
    }

    init(_ entries: [[UInt8]?]) {
        self.init(count: entries.count) { i, storage in
            guard let e = entries[i] else { return false }
            storage.append(contentsOf: e)
            return true
        }
    }

    var count: Int { ends.count }

    /// The bytes of entry `i` (empty for an unused id).
    subscript(i: Int) -> ArraySlice<UInt8> {
        storage[(i == 0 ? 0 : Int(ends[i - 1]))..<Int(ends[i])]
    }

    func has(_ i: Int) -> Bool { present[i] }
}

/// Spelling → id over a `ByteTable` of spellings: open addressing on FNV-1a hashes, each slot an
/// id whose entry is compared on lookup. A spelling that maps to an id whose entry is another
/// spelling (an added token given the id of a different model token) goes to `others`.
struct SpellingIndex: Sendable {
    private var slots: [Int32]
    private let mask: Int
    private var others: [ByteString: Int32] = [:]

    /// Indexes `ids` (spelling → id) against `table` (id → spelling).
    init(_ ids: [ByteString: Int32], table: ByteTable) {
        var size = 16
        while size < 2 * ids.count { size *= 2 }
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
        for (spelling, id) in ids {
            guard Int(id) < table.count, table.has(Int(id)), table[Int(id)].elementsEqual(spelling.bytes) else {
                others[spelling] = id
                continue
            }
            var slot = Self.hash(spelling.bytes) & mask
            while slots[slot] >= 0 { slot = (slot + 1) & mask }
            slots[slot] = id
        }
    }

    /// Indexes every entry of `table` under its own bytes (unused ids are left out). Throws the
    /// first id whose entry spells an earlier one, so a vocabulary with two ids for one spelling
    /// is refused rather than half-indexed.
    init(entriesOf table: ByteTable) throws(DuplicateSpelling) {
        var size = 16
        while size < 2 * table.count { size *= 2 }
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
        for i in 0..<table.count where table.has(i) {
            let spelling = table[i]
            var slot = Self.hash(spelling) & mask
            while slots[slot] >= 0 {
                if Self.equal(table[Int(slots[slot])], spelling) { throw DuplicateSpelling(first: slots[slot], second: Int32(i)) }
                slot = (slot + 1) & mask
            }
            slots[slot] = Int32(i)
        }
    }

    /// Two ids of one table with the same spelling.
    struct DuplicateSpelling: Error {
        var first: Int32
        var second: Int32
    }

    func id(of spelling: [UInt8], in table: ByteTable) -> Int32? {
        var slot = Self.hash(spelling) & mask
        while true {
            let id = slots[slot]
            if id < 0 { break }
            if table[Int(id)].elementsEqual(spelling) { return id }
            slot = (slot + 1) & mask
        }
        return others.isEmpty ? nil : others[ByteString(spelling)]
    }

    /// `id(of:in:)` for bytes in a buffer, without copying them into an array (the tokenizer's
    /// inner loops look up every candidate piece this way).
    func id(of spelling: UnsafeBufferPointer<UInt8>, in table: ByteTable) -> Int32? {
        var slot = Self.hash(spelling) & mask
        while true {
            let id = slots[slot]
            if id < 0 { break }
            if Self.equal(table[Int(id)], spelling) { return id }
            slot = (slot + 1) & mask
        }
        return others.isEmpty ? nil : others[ByteString(Array(spelling))]
    }

    @inline(__always)
    private static func equal(_ a: ArraySlice<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        a.count == b.count && a.elementsEqual(b)
    }

    private static func hash(_ bytes: some Sequence<UInt8>) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }
}
