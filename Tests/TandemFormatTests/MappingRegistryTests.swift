import Foundation
import Testing
@testable import TandemFormat

/// The table the SIGBUS handler reads (MappedFile+Truncation.swift): every live mapping is in it,
/// with its path, and leaves it when unmapped. The handler itself is tested end to end by
/// Tests/TandemCLITests/FaultCLITests.swift (a file truncated under a running `tandem generate`).
struct MappingRegistryTests {
    @Test func mappingsAreRecordedWhileAlive() throws {
        let path = Fixtures.temporary("registry.bin")
        try Data(repeating: 7, count: 3 * 4096 + 5).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        var start: UInt = 0, end: UInt = 0
        do {
            let file = try MappedFile(path: path)
            start = UInt(bitPattern: file.bytes.baseAddress)
            end = start + UInt(file.bytes.count)
            let slot = try #require(MappingRegistry.slot(containing: start + 4096))
            #expect(MappingRegistry.slot(containing: end - 1) == slot)
            #expect(MappingRegistry.slot(containing: end) != slot)
            let entry = MappingRegistry.table + (slot + 1) * MappingRegistry.slotBytes
            let length = entry.load(fromByteOffset: 16, as: Int.self)
            #expect(String(decoding: UnsafeRawBufferPointer(start: entry + 24, count: length), as: UTF8.self) == path)
            withExtendedLifetime(file) {}
        }
        // Unmapped: the range is no longer claimed (unless a new mapping reuses the addresses).
        if let slot = MappingRegistry.slot(containing: start) {
            let entry = MappingRegistry.table + (slot + 1) * MappingRegistry.slotBytes
            let length = entry.load(fromByteOffset: 16, as: Int.self)
            #expect(String(decoding: UnsafeRawBufferPointer(start: entry + 24, count: length), as: UTF8.self) != path)
        }
    }
}
