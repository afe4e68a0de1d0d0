/// Seed inputs for `FuzzEntry` targets: small valid files made by the engine's own
/// encoders, in both modes (first byte 0 = as stored, 1 = checksums recomputed by the
/// harness, so the rest is the raw payloads joined by the 0xFF 0xFE 0xFD marker).
/// Used by `SettFuzz` (SETT_FUZZ_WRITE_SEEDS) and by `FuzzRegressionTests`.
package enum FuzzSeeds {
    /// (target name, seed inputs) for every target.
    package static func all() -> [(String, [[UInt8]])] {
        let walRecords = walPayloads()
        let walFramed = walRecords.flatMap { FuzzEntry.frame([$0]) }
        let joined = joinPayloads(walRecords)
        let manifestPayloads = manifestRecords()
        let vlogEntries = valueLogEntries()
        let tables = tableFiles()
        return [
            ("wal", [[0] + walFramed, [1] + joined, [0]]),
            ("walsegment", [[0] + walFramed, [1] + joined]),
            ("vlog", [[0] + vlogEntries, [1] + vlogEntries]),
            ("block", tables.compactMap { firstBlock($0) }.map { [1] + $0 }),
            ("table", tables.map { [0] + $0 } + tables.map { [1] + $0 }),
            ("manifest", [[0] + manifestPayloads.flatMap { FuzzEntry.frame([$0]) }, [1] + joinPayloads(manifestPayloads)]),
            ("feedstate", [[0] + FeedStateFormat.encode(floor: 42),
                           [0] + FeedSlotsFormat.encode(["follower-1": 42, "backup.2": 7])]),
            ("discard", [[0] + DiscardStats.encode([1: 100, 7: 1 << 40])]),
            ("value", valueSeeds(tables)),
        ]
    }

    static func joinPayloads(_ ps: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        for (i, p) in ps.enumerated() {
            if i > 0 { out += [0xFF, 0xFE, 0xFD] }
            out += p
        }
        return out
    }

    /// Record payloads (without crc/length) of a few batches.
    static func walPayloads() -> [[UInt8]] {
        var out: [[UInt8]] = []
        var b = EntryBatch()
        b.set(Array("alpha".utf8), Array("one".utf8), version: 1)
        b.delete(Array("beta".utf8), version: 1)
        var c = EntryBatch()
        c.set(Array("gamma".utf8), [UInt8](repeating: 7, count: 40), version: 2, userMeta: 3, expiresAt: 1_900_000_000,
              discardEarlierVersions: true)
        for (i, batch) in [b, c].enumerated() {
            var w = ByteWriter()
            let ptrs: [ValuePointer?] = i == 1 ? [ValuePointer(fid: 1, len: 60, offset: 24)] : []
            WALRecord.encode(batch: batch, pointers: ptrs, into: &w)
            out.append(Array(w.bytes.dropFirst(WALRecord.recordHeaderSize)))
        }
        return out
    }

    static func manifestRecords() -> [[UInt8]] {
        let groups: [[ManifestChange]] = [
            [.create(1, level: 0, compression: .snappy), .create(2, level: 0, compression: .none)],
            [.delete(1, level: 0), .create(1, level: 1, compression: .snappy)],
            [.delete(2, level: 0)],
        ]
        return groups.map { g in
            var w = ByteWriter()
            ManifestFormat.encodeRecord(g, into: &w)
            return Array(w.bytes.dropFirst(ManifestFormat.recordHeaderSize))
        }
    }

    static func valueLogEntries() -> [UInt8] {
        var w = ByteWriter()
        for i in 0 ..< 3 {
            let key = Array("key\(i)".utf8)
            let value = [UInt8](repeating: UInt8(i), count: 30 + i * 50)
            key.withUnsafeBytes { k in
                value.withUnsafeBytes { v in
                    ValueLogFormat.encodeEntry(into: &w, key: k, value: v, version: UInt64(i + 1), meta: 0,
                                               userMeta: UInt8(i), expiresAt: i == 2 ? 1_900_000_000 : 0)
                }
            }
        }
        return w.bytes
    }

    /// Small tables: uncompressed and snappy, several blocks, with a bloom filter.
    static func tableFiles() -> [[UInt8]] {
        Compression.allCases.map { c in
            let b = TableBuilder(options: TableBuilderOptions(blockSize: 256, bloomFalsePositive: 0.01, compression: c))
            for i in 0 ..< 40 {
                let key = InternalKey.make(Array("key\(1000 + i)".utf8), version: UInt64(100 - i % 3))
                let value = [UInt8](repeating: UInt8(i), count: i % 5 == 0 ? 12 : 20)
                let meta: UInt8 = i % 5 == 0 ? EntryMeta.valuePointer : (i % 7 == 0 ? EntryMeta.delete : 0)
                key.withUnsafeBytes { k in
                    value.withUnsafeBytes { v in
                        b.add(key: k, value: ValueView(meta: meta, userMeta: 1, expiresAt: 0,
                                                       bytes: meta == EntryMeta.delete ? UnsafeRawBufferPointer(rebasing: v[0 ..< 0]) : v))
                    }
                }
            }
            return b.finish()
        }
    }

    /// The uncompressed payload of block 0 of an uncompressed table.
    static func firstBlock(_ table: [UInt8]) -> [UInt8]? {
        let fs = FuzzEntry.makeFS(["seed.sst": table])
        guard let t = try? Table.open(fs: fs, path: "/db/seed.sst", id: 1, checksumMode: .noVerification, cache: nil),
              t.compression == .none else { return nil }
        let r = t.index.blockRange(0)
        guard r.length > BlockFormat.trailerSize else { return nil }
        return Array(table[r.offset ..< r.offset + r.length - BlockFormat.trailerSize])
    }

    static func valueSeeds(_ tables: [[UInt8]]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var w = ByteWriter()
        ValueView(meta: 0, userMeta: 5, expiresAt: 1234, bytes: UnsafeRawBufferPointer(start: nil, count: 0)).encode(into: &w)
        out.append(w.bytes + Array("hello".utf8))
        out.append(ValuePointer(fid: 1, len: 50, offset: 24).encode())
        if let t = tables.first { out.append(Array(t.suffix(TableFormat.footerSize + 120))) }
        out.append(ManifestFormat.encodeHeader())
        out.append(ValueLogFormat.encodeHeader(fid: 1))
        return out
    }
}
