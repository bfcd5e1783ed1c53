import Foundation
import Testing

/// `tandem summarize` as a user runs it: crash safety under repeated `kill -9`, every bad-input
/// kind, sharding, ordered output.
struct SummarizeCLITests {
    /// A tiny T5 model, converted once.
    static let model: String = {
        let out = CLI.temporary("summarize-model.tandem")
        let r = try! CLI.run(["convert", CLI.repo.appendingPathComponent("Tests/Fixtures/checkpoints/t5-v1_1-tiny").path, "--dtype", "q8_0", "-o", out, "--quiet"])
        precondition(r.status == 0, r.stderr)
        return out
    }()

    static func documents(_ n: Int) -> String {
        let words = ["rain", "town", "river", "cat", "market", "winter", "road", "music", "light", "garden"]
        return (0..<n).map { i in
            let text = (0..<(10 + i % 7)).map { words[($0 * 7 + i) % words.count] }.joined(separator: " ")
            return "{\"id\": \"doc-\(i)\", \"text\": \"\(text).\"}"
        }.joined(separator: "\n") + "\n"
    }

    static func records(_ path: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    /// --chunk on a document several times the model's input limit: summarized chunk by chunk
    /// (at most --batch chunks a call), then the partial summaries; the record says how many
    /// chunks, and a short document beside it is summarized as usual.
    @Test func chunkSummarizesALongDocument() throws {
        let input = CLI.temporary("long.jsonl"), output = CLI.temporary("long-out.jsonl")
        let words = ["rain", "town", "river", "cat", "market", "winter", "road", "music", "light", "garden"]
        let long = (0..<5000).map { words[($0 * 3) % words.count] }.joined(separator: " ")
        try ("{\"id\": \"long\", \"text\": \"\(long)\"}\n{\"id\": \"short\", \"text\": \"rain in town\"}\n")
            .write(toFile: input, atomically: true, encoding: .utf8)
        let r = try CLI.run(["summarize", Self.model, "--input", input, "--output", output, "--chunk", "--batch", "2",
                             "--max-tokens", "4", "--quiet", "--threads", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let records = try Self.records(output)
        #expect(records.map { $0["id"] as! String } == ["long", "short"])
        #expect((records[0]["chunks"] as? Int ?? 0) >= 5, "\(records[0])")
        #expect((records[0]["input_tokens"] as! Int) > 5 * 500)
        #expect(records[1]["chunks"] == nil && records[0]["truncated"] == nil)
    }

    /// An instruct model through its chat template: `--chat --template` gives each document the
    /// same turn `generate --chat` gives a prompt (the same tokens, so the same greedy summary),
    /// and a model without a chat template is refused in one line.
    @Test func chatTemplateFramesEachDocument() throws {
        let llama = CLI.temporary("summarize-chat.tandem")
        let c = try CLI.run(["convert", CLI.repo.appendingPathComponent("Tests/Fixtures/gguf/tiny-llama-f32.gguf").path, "--dtype", "f32", "-o", llama, "--quiet"])
        #expect(c.status == 0, "\(c.stderr)")
        let input = CLI.temporary("chat.jsonl"), output = CLI.temporary("chat-out.jsonl")
        try "{\"id\": \"a\", \"text\": \"rain in the old town\"}\n".write(toFile: input, atomically: true, encoding: .utf8)
        let r = try CLI.run(["summarize", llama, "--input", input, "--output", output, "--chat", "--template", "Summarize: {text}",
                             "--max-tokens", "6", "--quiet", "--threads", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let g = try CLI.run(["generate", llama, "Summarize: rain in the old town", "--chat", "--max-tokens", "6", "--threads", "1", "--stats"])
        #expect(g.status == 0, "\(g.stderr)")
        let record = try #require(try Self.records(output).first)
        #expect(g.stderr.contains("prompt tokens \(record["input_tokens"] as? Int ?? -1) |"), "\(record) vs \(g.stderr)")
        #expect((record["summary"] as? String).map { $0 + "\n" } == g.stdout, "\(record) vs \(g.stdout)")
        let t5 = try CLI.run(["summarize", Self.model, "--input", input, "--output", CLI.temporary("t5-chat.jsonl"), "--chat"])
        #expect(t5.status == 1 && t5.stderr.contains("no chat template"), "\(t5.stderr)")
    }

    /// A budget smaller than one document needs is said plainly (not "batch 1 fits"), and the job
    /// still runs, one document at a time.
    @Test func aBudgetBelowBatchOneIsAWarning() throws {
        let input = CLI.temporary("tight.jsonl"), output = CLI.temporary("tight-out.jsonl")
        try Self.documents(3).write(toFile: input, atomically: true, encoding: .utf8)
        let r = try CLI.run(["summarize", Self.model, "--input", input, "--output", output, "--max-memory", "1M", "--max-tokens", "3"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("warning: even batch 1 needs an estimated") && !r.stderr.contains("fits --max-memory"), "\(r.stderr)")
        #expect(try Self.records(output).count == 3)
    }

    @Test func resumesAfterRepeatedKillNine() throws {
        let input = CLI.temporary("docs.jsonl"), output = CLI.temporary("out.jsonl")
        try Self.documents(40).write(toFile: input, atomically: true, encoding: .utf8)
        var rng = SystemRandomNumberGenerator()
        // Lines in the output so far (whole or torn), read without parsing.
        func written() -> Int { (try? Data(contentsOf: URL(fileURLWithPath: output)))?.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) } ?? 0 }
        var kills = 0
        for _ in 0..<8 {
            let before = written()
            let p = Process()
            p.executableURL = CLI.binary
            p.arguments = ["summarize", Self.model, "--input", input, "--output", output, "--batch", "3", "--max-tokens", "6", "--quiet", "--threads", "1"]
            p.standardError = FileHandle.nullDevice
            try p.run()
            // Killed once it has written something new, a random moment later — mid-work, so
            // each kill interrupts the job rather than landing after it ended.
            let deadline = Date().addingTimeInterval(120)
            while p.isRunning, written() <= before, Date() < deadline { usleep(2_000) }
            usleep(UInt32.random(in: 0...30_000, using: &rng))
            if p.isRunning, written() < 40 {
                kill(p.processIdentifier, SIGKILL)
                kills += 1
            }
            p.waitUntilExit()
        }
        #expect(kills >= 3, "only \(kills) of 8 runs were killed before the job was done")
        print("summarize kill -9: \(kills) of 8 runs killed mid-job, \(written()) lines written by then")
        let final = try CLI.run(["summarize", Self.model, "--input", input, "--output", output, "--batch", "3", "--max-tokens", "6", "--quiet"])
        #expect(final.status == 0, "\(final.stderr)")
        let ids = try Self.records(output).map { $0["id"] as! String }
        #expect(ids.count == 40, "one record per document, got \(ids.count) after \(kills) kills")
        #expect(Set(ids) == Set((0..<40).map { "doc-\($0)" }))
        // A torn last line is repaired on the next run.
        let handle = FileHandle(forWritingAtPath: output)!
        handle.seekToEndOfFile()
        handle.write(Data("{\"id\": \"doc-9".utf8))
        handle.closeFile()
        let again = try CLI.run(["summarize", Self.model, "--input", input, "--output", output, "--max-tokens", "6"])
        #expect(again.status == 0)
        #expect(again.stderr.contains("repaired"))
        #expect(try Self.records(output).count == 40)
    }

    @Test func reportsAndSkipsEveryBadInputKind() throws {
        let input = CLI.temporary("bad.jsonl"), output = CLI.temporary("out.jsonl"), errors = CLI.temporary("err.jsonl")
        var bytes = Data()
        for line in ["{\"id\": \"ok1\", \"text\": \"fine text\"}", "{not json", "[1, 2]", "{\"text\": \"no id\"}", "{\"id\": \"n\", \"text\": 3}",
                     "{\"id\": \"m\"}", "{\"id\": \"e\", \"text\": \"  \"}", "{\"id\": \"ok1\", \"text\": \"again\"}"] {
            bytes.append(Data((line + "\n").utf8))
        }
        bytes.append(Data("{\"id\": \"u\", \"text\": \"bad ".utf8) + Data([0xFF, 0xFE]) + Data("\"}\n{\"id\": \"ok2\", \"text\": \"also fine\"}\n".utf8))
        try bytes.write(to: URL(fileURLWithPath: input))
        let r = try CLI.run(["summarize", Self.model, "--input", input, "--output", output, "--errors", errors, "--max-tokens", "4"])
        #expect(r.status == 3, "exit status says something was skipped")
        #expect(try Self.records(output).map { $0["id"] as! String } == ["ok1", "ok2"])
        let reasons = try Self.records(errors).map { "\($0["line"]!): \($0["reason"]!)" }
        #expect(reasons == ["2: malformed JSON", "3: not a JSON object", "4: missing field \"id\"", "5: field \"text\" is not a string",
                            "6: missing field \"text\"", "7: empty text", "8: duplicate id", "9: invalid UTF-8"], "\(reasons)")
        for reason in ["malformed JSON", "duplicate id", "invalid UTF-8", "empty text"] { #expect(r.stderr.contains(reason)) }
        // A rerun writes no record twice and no error twice.
        _ = try CLI.run(["summarize", Self.model, "--input", input, "--output", output, "--errors", errors, "--max-tokens", "4"])
        #expect(try Self.records(output).count == 2)
        #expect(try Self.records(errors).count == 8)
    }

    @Test func shardsPartitionTheInput() throws {
        let input = CLI.temporary("docs.jsonl")
        try Self.documents(24).write(toFile: input, atomically: true, encoding: .utf8)
        var union: [String] = []
        for k in 0..<3 {
            let out = CLI.temporary("shard\(k).jsonl")
            let r = try CLI.run(["summarize", Self.model, "--input", input, "--output", out, "--shard", "\(k)/3", "--max-tokens", "4", "--quiet"])
            #expect(r.status == 0)
            union += try Self.records(out).map { $0["id"] as! String }
        }
        let whole = CLI.temporary("all.jsonl")
        _ = try CLI.run(["summarize", Self.model, "--input", input, "--output", whole, "--max-tokens", "4", "--quiet"])
        let all = try Self.records(whole).map { $0["id"] as! String }
        #expect(union.count == all.count, "shards neither overlap nor miss documents")
        #expect(Set(union) == Set(all))
        #expect(all == (0..<24).map { "doc-\($0)" }, "records are written in input order")
        #expect(try CLI.run(["summarize", Self.model, "--input", input, "--output", whole, "--shard", "3/3"]).status != 0)
    }

    @Test func readsADirectoryOfTextFiles() throws {
        let dir = CLI.temporary("txt")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "first document".write(toFile: dir + "/b.txt", atomically: true, encoding: .utf8)
        try "second document".write(toFile: dir + "/a.txt", atomically: true, encoding: .utf8)
        let out = CLI.temporary("dir.jsonl")
        let r = try CLI.run(["summarize", Self.model, "--input", dir, "--output", out, "--max-tokens", "4", "--quiet"])
        #expect(r.status == 0)
        #expect(try Self.records(out).map { $0["id"] as! String } == ["a", "b"])
    }

    /// `--min-tokens` fixes the summary length (what the benchmark relies on) and `--stats-json`
    /// reports the run with figures that add up.
    @Test func minTokensAndStatsJSON() throws {
        let input = CLI.temporary("fixed.jsonl"), output = CLI.temporary("fixed-out.jsonl"), stats = CLI.temporary("stats.json")
        try Self.documents(5).write(toFile: input, atomically: true, encoding: .utf8)
        let r = try CLI.run(["summarize", Self.model, "--input", input, "--output", output, "--min-tokens", "7", "--max-tokens", "7",
                             "--batch", "2", "--quiet", "--stats-json", stats])
        #expect(r.status == 0, "\(r.stderr)")
        let records = try Self.records(output)
        #expect(records.count == 5)
        #expect(records.allSatisfy { $0["output_tokens"] as? Int == 7 })
        let s = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: stats))) as! [String: Any]
        #expect(s["documents"] as? Int == 5)
        #expect(s["output_tokens"] as? Int == 35)
        let total = (s["seconds"] as! Double) * 1000
        let parts = (s["llm_encode_ms"] as! Double) + (s["slm_encode_ms"] as! Double) + (s["decode_ms"] as! Double)
        #expect(parts > 0 && parts <= total * 1.01, "time split \(parts) ms of \(total) ms")
        #expect((s["peak_rss_mb"] as! Double) > 0)
        let bad = try CLI.run(["summarize", Self.model, "--input", input, "--output", output, "--min-tokens", "9", "--max-tokens", "4"])
        #expect(bad.status != 0 && bad.stderr.contains("--min-tokens"))
    }

    /// A document of 10^7 characters is truncated with a warning, and only the part that can reach
    /// the model is tokenized: memory stays far below what tokenizing it whole costs (~2 GB).
    @Test func tenMillionCharacterDocumentIsTruncated() throws {
        let input = CLI.temporary("huge.jsonl"), output = CLI.temporary("huge-out.jsonl")
        let unit = "the river über the old town 日本; a cat in the rain "
        let text = String(repeating: unit, count: 200_000)
        try ("{\"id\": \"huge\", \"text\": \"\(text)\"}\n{\"id\": \"small\", \"text\": \"rain in town.\"}\n")
            .write(toFile: input, atomically: true, encoding: .utf8)
        let child = try ChildProcess(["summarize", Self.model, "--input", input, "--output", output, "--max-tokens", "4", "--threads", "1"])
        child.wait(seconds: 600)
        #expect(child.exitCode == 0, "\(child.stderr)")
        #expect(child.stderr.contains("document huge has more than"), "\(child.stderr)")
        #expect(try Self.records(output).map { $0["id"] as! String } == ["huge", "small"])
        #expect(child.peakResidentBytes < 1 << 30, "peak RSS \(child.peakResidentBytes >> 20) MiB")
    }
}
