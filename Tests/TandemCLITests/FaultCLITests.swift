// Issue 8, item 4, through the command line. Out of space while converting: a file-size limit
// (RLIMIT_FSIZE, set with util-linux `prlimit` — the one way to run out of room without root)
// makes the write fail; nothing may be left under the output name or as a temporary file, an
// older file there stays, and SIGXFSZ must not kill `tandem` silently. A model file truncated by
// another process while `tandem generate` has it mapped: one line naming the file, exit 1 — not a
// bare "Bus error" (Formats/FORMAT.md §9).
import Foundation
import Testing

struct FaultCLITests {
    static let checkpoint = CLI.repo.appendingPathComponent("Tests/Fixtures/checkpoints/t5-v1_1-tiny").path

    /// 768 KiB: below the f32 conversion of t5-v1_1-tiny (1.1 MB), above what ThreadSanitizer's
    /// runtime needs to start (it dies of SIGBUS under a limit of 256 KiB).
    static let fileSizeLimit = 768 << 10

    static func names(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }

    static func convertUnderLimit(_ out: String) throws -> ChildProcess {
        let prlimit = try #require(["/usr/bin/prlimit", "/bin/prlimit"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                   "prlimit (util-linux) is needed to set a file-size limit")
        let child = try ChildProcess(["--fsize=\(fileSizeLimit)", CLI.binary.path, "convert", checkpoint, "--dtype", "f32", "-o", out, "--quiet"],
                                     executable: prlimit)
        child.wait()
        return child
    }

    @Test func fileSizeLimitLeavesNoFileBehind() throws {
        let dir = CLI.temporary("fsize")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let out = dir + "/model.tandem"
        let child = try Self.convertUnderLimit(out)
        #expect(child.terminatingSignal == nil, "killed by signal \(child.terminatingSignal ?? 0): \(child.stderr)")
        #expect(child.exitCode == 1)
        let lines = child.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("tandem: error: cannot write \(out).tmp-") && lines[0].hasSuffix(": File too large"),
                "\(child.stderr)")
        #expect(Self.names(dir).isEmpty, "left behind: \(Self.names(dir))")

        // A good file already under the name survives a conversion that fails.
        let previous = Data("an older model".utf8)
        try previous.write(to: URL(fileURLWithPath: out))
        let again = try Self.convertUnderLimit(out)
        #expect(again.exitCode == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == previous)
        #expect(Self.names(dir) == ["model.tandem"])
    }

    @Test func modelTruncatedWhileMappedIsReported() throws {
        let path = CLI.temporary("shrinking.tandem")
        try FileManager.default.copyItem(atPath: TinyModels.t5, toPath: path)
        defer { unlink(path) }
        let child = try ChildProcess(["generate", path, "translate English to German: The house.",
                                      "--max-tokens", "1000000", "--min-tokens", "1000000", "--threads", "1"])
        // Decoding reads the weights from the mapping at every step; cut the file under it.
        #expect(child.waitFor(seconds: 300) { child.stdoutBytes.count >= 64 })
        #expect(truncate(path, 4096) == 0)
        child.wait(seconds: 120)
        #expect(child.terminatingSignal == nil, "died of signal \(child.terminatingSignal ?? 0): \(child.stderr)")
        #expect(child.exitCode == 1)
        #expect(child.stderr == "tandem: error: model file \(path) was truncated or changed while in use\n", "\(child.stderr)")
    }
}
