// The reader's hidden states for training an LLM-to-SLM projector (Tools/llm2slm/train.py): the
// reader is frozen, so H is computed once per training prompt — here by Tandem's own prompt pass,
// which on two cores is several times PyTorch's — and stored in train.py's cache format:
// `h_cache.bin`, one LZ4 block per prompt (a 4-byte little-endian raw size, then the block, as
// Python's `lz4.block.compress(store_size=True)` writes it) of the prompt's `m × d` hidden states
// as f16, byte-shuffled (all low bytes, then all high bytes); `h_cache.json`, the index
// (`entries`: offset, bytes and rows of each). A long run can stop and go on: every few prompts
// the index so far is saved (`h_cache.partial.json`), and a rerun with the same key resumes there.
import Foundation
import TandemFormat
import TandemKernels
import TandemModels

public enum FeatureCache {
    /// What one run wrote.
    public struct Summary: Sendable {
        public var prompts: Int
        public var resumedAt: Int
        public var tokens: Int
        public var rawBytes: Int
        public var storedBytes: Int
        public var seconds: Double
    }

    /// Reads every prompt (token ids) with `reader` and writes the cache into `directory`.
    /// `key` identifies the prompts and the reader (train.py's digest); a partial cache of
    /// another key is started over. `progress(done, total)` after each prompt; returning false
    /// stops after saving the index so far (a later run resumes).
    public static func write(
        reader: any PromptReader, prompts: [[Int32]], directory: String, key: String,
        progress: (Int, Int) -> Bool = { _, _ in true }
    ) throws(RuntimeError) -> Summary {
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw .io("cannot create \(directory): \(error.localizedDescription)")
        }
        let blobPath = directory + "/h_cache.bin", partialPath = directory + "/h_cache.partial.json"
        let indexPath = directory + "/h_cache.json"
        let d = reader.hiddenSize
        var entries: [[Int]] = [], raw = 0
        // Resume: the partial index of the same key, and the blob cut back to what it covers.
        if let data = fm.contents(atPath: partialPath),
           let old = try? JSONSerialization.jsonObject(with: data) as? [String: Any], old["key"] as? String == key,
           old["d_l"] as? Int == d, let e = old["entries"] as? [[Int]], e.count <= prompts.count,
           let size = (try? fm.attributesOfItem(atPath: blobPath)[.size]) as? Int,
           size >= (e.last.map { $0[0] + $0[1] } ?? 0),
           zip(e, prompts).allSatisfy({ $0[2] == $1.count }) {
            entries = e
            raw = e.reduce(0) { $0 + $1[2] * d * 2 }
        }
        let resumedAt = entries.count
        let end = entries.last.map { $0[0] + $0[1] } ?? 0
        if !fm.fileExists(atPath: blobPath) || resumedAt == 0 { _ = fm.createFile(atPath: blobPath, contents: nil) }
        guard let out = FileHandle(forUpdatingAtPath: blobPath) else { throw .io("cannot write \(blobPath)") }
        defer { try? out.close() }
        do {
            try out.truncate(atOffset: UInt64(end))
            try out.seek(toOffset: UInt64(end))
        } catch { throw .io("cannot write \(blobPath): \(error.localizedDescription)") }

        func saveIndex(_ path: String, extra: [String: Any] = [:]) throws(RuntimeError) {
            var index: [String: Any] = [
                "key": key, "d_l": d, "dtype": "f16, 2-byte shuffle, lz4 block", "entries": entries, "writer": "tandem features",
            ]
            for (k, v) in extra { index[k] = v }
            do {
                let data = try JSONSerialization.data(withJSONObject: index, options: [.sortedKeys])
                try data.write(to: URL(fileURLWithPath: path + ".tmp"))
            } catch { throw .io("cannot write \(path): \(error.localizedDescription)") }
            // Replaced whole, so a stop mid-write leaves the previous index.
            guard rename(path + ".tmp", path) == 0 else { throw .io("cannot write \(path): \(String(cString: strerror(errno)))") }
        }

        let start = Date()
        var offset = end, tokens = 0
        var next = resumedAt, keepGoing = true, saved = resumedAt
        while next < prompts.count, keepGoing {
            // Consecutive prompts that fit one of the reader's passes together (at least one).
            var group = [prompts[next]], total = prompts[next].count
            while next + group.count < prompts.count, total + prompts[next + group.count].count <= reader.batchTokens {
                total += prompts[next + group.count].count
                group.append(prompts[next + group.count])
            }
            let hs: [FloatBuffer]
            do { hs = try reader.read(batch: group) } catch { throw .model(error) }
            for (ids, h) in zip(group, hs) {
                let block = compressed(h.buffer, count: ids.count * d)
                do { try out.write(contentsOf: block) } catch { throw .io("cannot write \(blobPath): \(error.localizedDescription)") }
                entries.append([offset, block.count, ids.count])
                offset += block.count
                raw += ids.count * d * 2
                tokens += ids.count
                next += 1
                keepGoing = progress(next, prompts.count) && keepGoing
            }
            if next - saved >= 16 || next == prompts.count || !keepGoing {
                do { try out.synchronize() } catch { throw .io("cannot write \(blobPath): \(error.localizedDescription)") }
                try saveIndex(partialPath)
                saved = next
            }
        }
        let summary = Summary(prompts: entries.count, resumedAt: resumedAt, tokens: tokens, rawBytes: raw, storedBytes: offset,
                              seconds: Date().timeIntervalSince(start))
        if entries.count == prompts.count {
            try saveIndex(indexPath, extra: [
                "raw_f16_bytes": raw, "compressed_bytes": offset, "ratio": Double(raw) / Double(max(offset, 1)),
            ])
            try? fm.removeItem(atPath: partialPath)
        }
        return summary
    }

    /// `count` floats as little-endian f16, byte-shuffled and LZ4-compressed (the file format's
    /// `lz4Shuffle2` blob encoding), behind its 4-byte raw size.
    static func compressed(_ x: UnsafeBufferPointer<Float>, count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 2 * count)
        for i in 0..<count {
            let bits = Float16(x[i]).bitPattern
            bytes[2 * i] = UInt8(bits & 0xFF)
            bytes[2 * i + 1] = UInt8(bits >> 8)
        }
        let n = UInt32(bytes.count)
        return [UInt8(n & 0xFF), UInt8((n >> 8) & 0xFF), UInt8((n >> 16) & 0xFF), UInt8(n >> 24)] + LZ4.encode(bytes, as: .lz4Shuffle2)
    }
}
