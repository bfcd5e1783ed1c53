// The compact vocabulary storage behind ByteLevelBPETokenizer: entries by id (unused ids kept
// apart from empty ones) and the spelling → id index, including a spelling whose id's entry is
// another spelling (an added token given a model token's id), which the index keeps aside.
@testable import TandemTokenizer
import Testing

struct TokenTableTests {
    @Test func entriesComeBackByIdAndUnusedIdsAreKnown() {
        let entries: [[UInt8]?] = [Array("a".utf8), nil, [], Array("日本".utf8), [0xff, 0x00]]
        let table = ByteTable(entries)
        #expect(table.count == entries.count)
        for (i, e) in entries.enumerated() {
            #expect(table.has(i) == (e != nil))
            #expect(Array(table[i]) == (e ?? []))
        }
    }

    @Test func spellingsFindTheirIds() {
        // 5,000 distinct spellings, enough for probe chains to cross; id 7's entry replaced by
        // an added token while the model's spelling still maps to 7, as the tokenizer builds it.
        var spellings: [[UInt8]?] = (0..<5000).map { Array("tok\($0 * 7919 % 5000)".utf8) }
        spellings[42] = nil
        let model = spellings[7]!
        spellings[7] = Array("<|added|>".utf8)
        var ids: [ByteString: Int32] = [:]
        for (i, s) in spellings.enumerated() { if let s { ids[ByteString(s)] = Int32(i) } }
        ids[ByteString(model)] = 7
        let table = ByteTable(spellings)
        let index = SpellingIndex(ids, table: table)
        for (spelling, id) in ids { #expect(index.id(of: spelling.bytes, in: table) == id) }
        #expect(index.id(of: model, in: table) == 7)
        #expect(index.id(of: Array("tok5000".utf8), in: table) == nil)
        #expect(index.id(of: [], in: table) == nil)
    }

    /// An index of a table's own entries: every entry found by its bytes (from an array or a
    /// buffer), unused ids left out, and a second id with an earlier id's spelling refused.
    @Test func indexOfOwnEntriesRefusesDuplicates() throws {
        var spellings: [[UInt8]?] = (0..<5000).map { Array("piece\($0 * 7919 % 5000)".utf8) }
        spellings[42] = nil
        let table = ByteTable(spellings)
        let index = try SpellingIndex(entriesOf: table)
        for (i, s) in spellings.enumerated() {
            guard let s else { continue }
            #expect(index.id(of: s, in: table) == Int32(i))
            #expect(s.withUnsafeBufferPointer { index.id(of: $0, in: table) } == Int32(i))
        }
        #expect(Array("piece5000".utf8).withUnsafeBufferPointer { index.id(of: $0, in: table) } == nil)
        spellings[4321] = spellings[17]
        do {
            _ = try SpellingIndex(entriesOf: ByteTable(spellings))
            Issue.record("a duplicate spelling was indexed")
        } catch {
            #expect(error.first == 17 && error.second == 4321)
        }
    }
}
