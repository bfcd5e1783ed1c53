import Foundation
import Testing
import TandemTestSupport

/// Runs the built `tandem` binary the way a user would.
enum CLI {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var binary: URL {
        // The test bundle sits next to the products in .build/<triple>/<configuration>.
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
        return dir.appendingPathComponent("tandem")
    }

    struct Result { var status: Int32; var stdout: String; var stderr: String }

    /// Runs `tandem args`; `environment` entries are added to (or, nil, removed from) the test's own.
    static func run(_ args: [String], environment: [String: String?] = [:]) throws -> Result {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        if !environment.isEmpty {
            var env = ProcessInfo.processInfo.environment
            for (key, value) in environment { env[key] = value }
            p.environment = env
        }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    static func temporary(_ name: String) -> String { Scratch.unique(name) }
}

struct InspectCLITests {
    static let sample = CLI.repo.appendingPathComponent("Formats/samples/v1/gpt2-tiny.q8_0.tandem").path

    @Test func inspectsAGoodFile() throws {
        let r = try CLI.run(["inspect", Self.sample, "--verify"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("gpt2"))
        #expect(r.stdout.contains("h.0.attn.c_attn.weight"))
        #expect(r.stdout.contains("bits/weight"))
        let j = try CLI.run(["inspect", Self.sample, "--json"])
        #expect(j.status == 0)
        let obj = try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as! [String: Any]
        #expect((obj["tensors"] as! [Any]).count == 28)
    }

    /// Damaged copies of a good file: each prints exactly one line naming the problem, exit 1.
    nonisolated(unsafe) static let damages: [(String, String, (inout [UInt8]) -> Void)] = [
        ("truncated", "truncated", { $0.removeLast($0.count / 3) }),
        ("cut inside the preamble", "truncated", { $0.removeLast($0.count - 50) }),
        ("wrong magic", "not a Tandem file", { $0[1] = 0x58 }),
        ("future version", "unsupported format version 7", { $0[8] = 7 }),
        ("metadata byte flipped", "header checksum", { $0[200] ^= 0x20 }),
        ("trailing garbage", "header says", { $0 += [1, 2, 3] }),
        ("empty", "truncated", { $0 = [] }),
    ]

    @Test(arguments: 0..<damages.count)
    func rejectsDamagedFile(index: Int) throws {
        let (name, needle, damage) = Self.damages[index]
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.sample)))
        damage(&bytes)
        let path = CLI.temporary("damaged.tandem")
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        defer { unlink(path) }
        let r = try CLI.run(["inspect", path])
        #expect(r.status == 1, "\(name)")
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(name): \(r.stderr)")
        #expect(r.stderr.hasPrefix("tandem: error: ") && r.stderr.contains(needle), "\(name): \(r.stderr)")
        #expect(r.stdout.isEmpty)
    }

    @Test func tensorChecksumCaughtByVerify() throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.sample)))
        bytes[bytes.count - 5000] ^= 0x01
        let path = CLI.temporary("flipped.tandem")
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        defer { unlink(path) }
        #expect(try CLI.run(["inspect", path, "--summary"]).status == 0)
        let r = try CLI.run(["inspect", path, "--verify"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("checksum mismatch"), "\(r.stderr)")
    }

    @Test func missingFileAndBadArguments() throws {
        let r = try CLI.run(["inspect", "/nonexistent.tandem"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("No such file"))
        let c = try CLI.run(["convert", "/nonexistent", "-o", CLI.temporary("x.tandem"), "--dtype", "q9"])
        #expect(c.status != 0)
        #expect(c.stderr.contains("q9"))
    }

    @Test func convertThenInspect() throws {
        let out = CLI.temporary("t5.tandem")
        defer { unlink(out) }
        let c = try CLI.run(["convert", CLI.repo.appendingPathComponent("Tests/Fixtures/checkpoints/t5-v1_1-tiny").path,
                             "--dtype", "q4_0", "-o", out, "--keep", "*.wo.weight=f32"])
        #expect(c.status == 0, "\(c.stderr)")
        #expect(c.stdout.contains("converted t5"))
        let i = try CLI.run(["inspect", out, "--verify", "--summary"])
        #expect(i.status == 0)
        #expect(i.stdout.contains("q4_0"))
        #expect(i.stdout.contains("keep *.wo.weight=f32"))
    }
}

/// Every rejection rule of Formats/FORMAT.md §8, through the command line: one line naming the
/// problem on stderr, exit status 1, nothing on stdout.
struct InspectRejectionCLITests {
    nonisolated(unsafe) static let cases: [(String, String, (inout RawFile) -> Void)] = [
        ("truncated", "truncated file", { $0.fileLengthOverride = UInt64($0.bytes().count + 100) }),
        ("wrong magic", "not a Tandem file", { $0.magic = Array("GGUF\u{3}\0\0\0".utf8) }),
        ("future version", "unsupported format version 2", { $0.version = 2 }),
        ("offset past the end", "lies past the end", { $0.entries[1].offset = UInt64($0.data.count) }),
        ("overlapping tensors", "overlaps", { $0.entries[1].offset = 192 }),
        ("shape and size disagree", "needs 384 bytes", { $0.entries[0].dims = [3, 32] }),
        ("size overflow", "overflows 64-bit", { $0.entries[0].dims = [1 << 40, 1 << 40] }),
        ("malformed JSON", "malformed JSON", { $0.metadata = Array("{\"format\": ".utf8) }),
        ("unknown dtype", "unknown dtype code 77", { $0.entries[0].code = 77 }),
        ("header checksum", "header checksum", { $0.fixHeaderChecksum = false }),
        ("duplicate name", "duplicate tensor name", { $0.entries[1].name = "a.weight" }),
        ("misaligned", "not aligned", { $0.entries[1].offset = 260 }),
        ("hostile metadata size", "above the limit", { $0.metadataEncoding = 1; $0.metadataRawOverride = 4 << 30 }),
        ("2^60-element tensor", "needs 4611686018427387904 bytes", { $0.entries[0].dims = [1 << 30, 1 << 30] }),
    ]

    @Test(arguments: 0..<cases.count)
    func inspectRejects(index: Int) throws {
        let (name, needle, damage) = Self.cases[index]
        var f = RawFile.valid()
        damage(&f)
        let path = CLI.temporary("rule.tandem")
        f.write(to: path)
        defer { unlink(path) }
        let r = try CLI.run(["inspect", path])
        #expect(r.status == 1, "\(name)")
        #expect(r.stdout.isEmpty, "\(name)")
        #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.hasPrefix("tandem: error: ") && r.stderr.contains(needle), "\(name): \(r.stderr)")
    }

    @Test func validRawFileIsAccepted() throws {
        let path = CLI.temporary("ok.tandem")
        RawFile.valid().write(to: path)
        defer { unlink(path) }
        #expect(try CLI.run(["inspect", path, "--verify"]).status == 0)
    }
}
