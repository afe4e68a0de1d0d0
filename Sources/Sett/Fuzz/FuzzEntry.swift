import Logging

/// Entry points for fuzzing every decoder of untrusted bytes (WAL, feed segments, value
/// log, table blocks, whole tables, manifest, FEED state, DISCARD, value encodings).
///
/// Used by the `SettFuzz` libFuzzer executable (built only by `scripts/fuzz.sh`, see
/// docs/testing.md) and by `FuzzRegressionTests`, which replays saved inputs from
/// Tests/SettTests/Fixtures/fuzz/<target>/. Contract: for ANY input bytes a target
/// returns normally; decoders may throw `SettError` (swallowed here) but must never trap,
/// read out of bounds or loop forever. Each target runs on a private `MemoryFileSystem`.
///
/// Many formats are guarded by CRC32C checksums that random mutation almost never gets
/// right, so most targets read the first input byte as a mode: even = the rest is used
/// as-is (checksum checks are exercised), odd = the harness re-computes the checksums
/// over the fuzzed content first, so the grammar checks behind them are exercised too.
package enum FuzzEntry {
    /// Target names, as accepted by `run(_:_:)`.
    package static let targets = ["wal", "walsegment", "vlog", "block", "table", "manifest", "feedstate",
                                  "discard", "value"]

    /// Runs target `name` on `bytes`. Returns false for an unknown target name.
    @discardableResult
    package static func run(_ name: String, _ bytes: UnsafeRawBufferPointer) -> Bool {
        let input = Array(bytes)
        switch name {
        case "wal": wal(input)
        case "walsegment": walSegment(input)
        case "vlog": valueLog(input)
        case "block": block(input)
        case "table": table(input)
        case "manifest": manifest(input)
        case "feedstate": feedState(input)
        case "discard": discard(input)
        case "value": value(input)
        default: return false
        }
        return true
    }

    static var quietLogger: Logger {
        var l = Logger(label: "sett-fuzz")
        l.logLevel = .critical
        return l
    }

    /// Splits off the mode byte: (fixChecksums, rest).
    static func mode(_ input: [UInt8]) -> (Bool, [UInt8]) {
        guard let first = input.first else { return (false, []) }
        return (first & 1 == 1, Array(input.dropFirst()))
    }

    static func makeFS(_ files: [String: [UInt8]]) -> MemoryFileSystem {
        let fs = MemoryFileSystem()
        try? fs.createDirectory("/db")
        for (name, content) in files {
            guard let f = try? fs.open("/db/" + name, .readWrite) else { continue }
            try? f.write(content, at: 0)
            f.close()
        }
        return fs
    }

    /// Frames `payloads` as checksummed records (`crc u32 | length u32 | payload`),
    /// the framing WAL and manifest share.
    static func frame(_ payloads: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        for p in payloads {
            var w = ByteWriter(capacity: 8 + p.count)
            w.u32(0)
            w.u32(UInt32(p.count))
            w.append(p)
            let crc = w.bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[4...])) }
            w.patchU32(crc, at: 0)
            out += w.bytes
        }
        return out
    }

    /// Cuts `rest` into payloads at 0xFF 0xFE 0xFD markers (so the fuzzer can make several records).
    static func split(_ rest: [UInt8]) -> [[UInt8]] {
        var parts: [[UInt8]] = [[]]
        var i = 0
        while i < rest.count {
            if i + 2 < rest.count, rest[i] == 0xFF, rest[i + 1] == 0xFE, rest[i + 2] == 0xFD {
                parts.append([])
                i += 3
                continue
            }
            parts[parts.count - 1].append(rest[i])
            i += 1
        }
        return parts
    }

    // MARK: WAL

    /// A memtable WAL replayed the way `DB.open` replays it.
    static func wal(_ input: [UInt8]) {
        let (fix, rest) = mode(input)
        let file = fix ? WALRecord.header(fileId: 1) + frame(split(rest)) : WALRecord.header(fileId: 1) + rest
        let fs = makeFS(["000001.wal": file])
        _ = try? replayWAL(fs: fs, path: "/db/000001.wal", expectedFileId: 1, readOnly: false, logger: quietLogger) { view in
            view.forEach { key, version, value in
                _ = key.count &+ Int(truncatingIfNeeded: version) &+ value.bytes.count
                if value.meta & EntryMeta.valuePointer != 0 { _ = try? ValuePointer.decode(value.bytes) }
            }
        }
        // A raw (unframed) header variant: short or damaged headers.
        _ = try? WALScan(path: "/db/x.wal", bytes: rest, expectedFileId: 1)
    }

    /// The commit feed reading a segment (sequential record reads) up to several limits.
    static func walSegment(_ input: [UInt8]) {
        let (fix, rest) = mode(input)
        let file = fix ? WALRecord.header(fileId: 2) + frame(split(rest)) : WALRecord.header(fileId: 2) + rest
        let fs = makeFS(["000002.log": file])
        for limit in [Int64(file.count), Int64(file.count / 2), Int64(WALRecord.headerSize)] {
            guard let r = try? WALSegmentReader.open(fs: fs, dir: "/db", id: 2) else { return }
            _ = try? r.peekFirstTimestamp(limit: limit)
            var steps = 0
            loop: while steps < 100_000 {
                steps += 1
                guard let step = try? r.next(limit: limit) else { break }
                switch step {
                case .record(let view):
                    _ = view.commitTimestamp
                    view.forEach { _, _, _ in }
                case .end, .torn: break loop
                }
            }
            r.close()
        }
    }

    // MARK: Value log

    /// Opens a value-log directory whose newest file holds the fuzzed entries, iterates it
    /// and follows pointers taken from the input.
    static func valueLog(_ input: [UInt8]) {
        let (fix, rest) = mode(input)
        var body = rest
        if fix {
            // Re-checksum every entry that decodes.
            var at = 0
            while at < body.count {
                let decoded: ValueLogFormat.DecodedEntry? = body.withUnsafeBytes { raw in
                    try? ValueLogFormat.decodeEntry(UnsafeRawBufferPointer(rebasing: raw[at...]), verifyChecksum: false)
                }
                guard let e = decoded else { break }
                let crc = body.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[(at + 4) ..< (at + e.size)])) }
                withUnsafeBytes(of: crc.littleEndian) { for i in 0 ..< 4 { body[at + i] = $0[i] } }
                at += e.size
            }
        }
        let older = ValueLogFormat.encodeHeader(fid: 1) + body
        let newest = ValueLogFormat.encodeHeader(fid: 2) + body
        let fs = makeFS(["000001.vlog": older, "000002.vlog": newest])
        var options = Options(dir: "/db")
        options.fileSystem = fs
        options.logger = quietLogger
        options.verifyValueChecksum = rest.count % 2 == 0
        guard let vlog = try? ValueLog.open(fs: fs, dir: "/db", options: options) else { return }
        for fid: UInt32 in [1, 2] {
            var n = 0
            try? vlog.iterate(fid: fid) { e in
                n += 1
                _ = try? vlog.read(e.pointer)
                return n < 10_000
            }
        }
        // Arbitrary pointers built from the input.
        var i = 0
        while i + 12 <= rest.count && i < 12 * 64 {
            let p = rest.withUnsafeBytes { raw in
                try? ValuePointer.decode(UnsafeRawBufferPointer(rebasing: raw[i ..< i + 12]))
            }
            if var p {
                p.fid = p.fid % 3
                _ = try? vlog.read(p)
            }
            i += 12
        }
        try? vlog.close()
    }

    // MARK: Tables

    /// One stored block: trailer, decompression, entry decoding and binary search.
    static func block(_ input: [UInt8]) {
        let (fix, rest) = mode(input)
        // Uncompressed block grammar directly.
        rest.withUnsafeBytes { raw in
            guard let view = try? BlockView(raw) else { return }
            walkBlock(view)
        }
        // The same bytes as compressed payloads (odd mode: the decoder's view of a
        // decompressed result is walked too).
        for c in Compression.allCases {
            var decoded = [UInt8](repeating: 0, count: min(1 << 20, rest.count * 4 + 64))
            rest.withUnsafeBytes { src in
                decoded.withUnsafeMutableBytes { dst in
                    if BlockDecompressor.decompress(c, src, into: dst), fix,
                       let view = try? BlockView(UnsafeRawBufferPointer(dst)) {
                        walkBlock(view)
                    }
                }
            }
        }
    }

    static func walkBlock(_ view: BlockView) {
        for i in 0 ..< min(view.count, 100_000) {
            guard let e = try? view.entry(i) else { continue }
            _ = try? BlockView.decodeValue(e.value)
        }
        var probe = Array(view.firstKey)
        probe.append(contentsOf: [UInt8](repeating: 0, count: max(0, 8 - probe.count)))
        probe.withUnsafeBytes { k in
            let t = view.target(k)
            _ = try? view.lowerBound(t)
            _ = try? view.upperBound(t)
        }
        [UInt8](repeating: 0x7F, count: 12).withUnsafeBytes { k in
            let t = view.target(k)
            _ = try? view.lowerBound(t)
            _ = try? view.upperBound(t)
        }
    }

    /// A whole table file opened from bytes: footer, index, bloom, then every block via
    /// iteration both ways and point lookups.
    static func table(_ input: [UInt8]) {
        let (fix, rest) = mode(input)
        var file = rest
        if fix { fixTableChecksums(&file) }
        let fs = makeFS(["000001.sst": file])
        for mode in [ChecksumVerificationMode.onBlockRead, .noVerification] {
            guard let t = try? Table.open(fs: fs, path: "/db/000001.sst", id: 1, checksumMode: mode,
                                          cache: mode == .noVerification ? BlockCache(capacityBytes: 1 << 20) : nil)
            else { continue }
            let it = t.makeIterator()
            var n = 0
            it.seekToFirst()
            var keys: [[UInt8]] = []
            while it.valid && n < 100_000 {
                if n % 7 == 0 { keys.append(Array(it.key)) }
                _ = it.value.bytes.count
                it.next()
                n += 1
            }
            n = 0
            it.seekToLast()
            while it.valid && n < 100_000 {
                it.prev()
                n += 1
            }
            for k in keys.prefix(50) {
                k.withUnsafeBytes { kb in
                    it.seek(kb)
                    it.seekForPrev(kb)
                    if kb.count >= 8 {
                        _ = try? t.get(kb, userKeyHash: KeyHash.hash(InternalKey.userKey(kb)))
                    }
                }
            }
        }
    }

    /// Makes footer, index and bloom checksums match the (fuzzed) content, and sets the
    /// magic, so decoding gets past them.
    static func fixTableChecksums(_ file: inout [UInt8]) {
        let fs = TableFormat.footerSize
        guard file.count >= fs else { return }
        let start = file.count - fs
        for (i, b) in TableFormat.magic.enumerated() { file[start + 24 + i] = b }
        let (indexOffset, indexLength) = file.withUnsafeBytes { raw in
            (raw.loadUnaligned(fromByteOffset: start, as: UInt64.self).littleEndian,
             raw.loadUnaligned(fromByteOffset: start + 8, as: UInt32.self).littleEndian)
        }
        func put32(_ v: UInt32, at: Int) { withUnsafeBytes(of: v.littleEndian) { for i in 0 ..< 4 { file[at + i] = $0[i] } } }
        let stored = file.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: start + 16, as: UInt32.self).littleEndian }
        let version = TableFormat.readableVersions.contains(stored) ? stored : TableFormat.formatVersion
        put32(version, at: start + 16)
        if indexOffset <= UInt64(start), UInt64(start) - indexOffset == UInt64(indexLength) {
            let io = Int(indexOffset)
            // The bloom crc lives inside the index; fix it first if the index decodes.
            if let index = file.withUnsafeBytes({ try? TableFormat.decodeIndex(UnsafeRawBufferPointer(rebasing: $0[io ..< start]), indexOffset: io, version: version) }) {
                let h = index.header
                if h.bloomLength > 0, h.bloomOffset + h.bloomLength <= io {
                    let crc = file.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[h.bloomOffset ..< h.bloomOffset + h.bloomLength])) }
                    // The stored bloom crc sits early in the index: find the old value there.
                    let old = h.bloomChecksum
                    if let p = (io ..< min(start - 3, io + 64)).first(where: { p in
                        file.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: p, as: UInt32.self).littleEndian == old }
                    }) {
                        put32(crc, at: p)
                    }
                }
            }
            let icrc = file.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[io ..< start])) }
            put32(icrc, at: start + 12)
        }
        let fcrc = file.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start ..< start + 20])) }
        put32(fcrc, at: start + 20)
    }

    // MARK: Manifest and small state files

    /// Manifest replay (`Manifest.open`), then one apply and a reopen.
    static func manifest(_ input: [UInt8]) {
        let (fix, rest) = mode(input)
        let file = fix ? ManifestFormat.encodeHeader() + frame(split(rest)) : ManifestFormat.encodeHeader() + rest
        let fs = makeFS(["MANIFEST": file])
        if let (m, state) = try? Manifest.open(fs: fs, dir: "/db", readOnly: false, logger: quietLogger,
                                               rewriteMinDeletions: 4, rewriteRatio: 2) {
            _ = state
            try? m.apply([.create(1_000_000, level: 1, compression: .none)])
            try? m.apply([.delete(1_000_000, level: 1)])
            m.close()
            if let (m2, _) = try? Manifest.open(fs: fs, dir: "/db", readOnly: true, logger: quietLogger) { m2.close() }
        }
        rest.withUnsafeBytes { _ = try? ManifestFormat.decodePayload($0) }
        // Raw bytes as the whole file (header damage).
        let fs2 = makeFS(["MANIFEST": rest])
        if let (m, _) = try? Manifest.open(fs: fs2, dir: "/db", readOnly: true, logger: quietLogger) { m.close() }
    }

    static func feedState(_ input: [UInt8]) {
        let (fix, rest) = mode(input)
        var bytes = rest
        if fix, bytes.count == FeedStateFormat.size {
            let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0 ..< 16])) }
            withUnsafeBytes(of: crc.littleEndian) { for i in 0 ..< 4 { bytes[16 + i] = $0[i] } }
        }
        _ = try? FeedStateFormat.decode(bytes, path: "/db/FEED")
        // The same bytes as a SLOTS file (its crc covers everything before the last 4 bytes).
        var slots = rest
        if fix, slots.count >= 4 {
            let crc = slots.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0 ..< $0.count - 4])) }
            withUnsafeBytes(of: crc.littleEndian) { for i in 0 ..< 4 { slots[slots.count - 4 + i] = $0[i] } }
        }
        _ = try? FeedSlotsFormat.decode(slots, path: "/db/SLOTS")
        // Through the feed log's open path, which reads FEED and SLOTS from the directory.
        let fs = makeFS(["FEED": bytes, "SLOTS": slots])
        var options = Options(dir: "/db")
        options.fileSystem = fs
        options.logger = quietLogger
        if let log = try? FeedLog.open(fs: fs, options: options, activeId: 1, newestTs: 0) { log.close() }
    }

    static func discard(_ input: [UInt8]) {
        let (fix, rest) = mode(input)
        var bytes = rest
        if fix, bytes.count >= 4 {
            let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0 ..< $0.count - 4])) }
            withUnsafeBytes(of: crc.littleEndian) { for i in 0 ..< 4 { bytes[bytes.count - 4 + i] = $0[i] } }
        }
        bytes.withUnsafeBytes { _ = try? DiscardStats.decode($0, path: "/db/DISCARD") }
        let fs = makeFS(["DISCARD": bytes])
        _ = DiscardStats.load(fs: fs, dir: "/db", logger: quietLogger)
    }

    /// Value encodings stored in tables and memtables: `ValueView`, `ValuePointer`,
    /// a bloom filter, a table index and a footer, each from raw bytes.
    static func value(_ input: [UInt8]) {
        input.withUnsafeBytes { raw in
            _ = try? ValueView.decode(raw)
            _ = try? BlockView.decodeValue(raw)
            _ = try? ValuePointer.decode(raw)
            if let b = try? BloomFilter.parse(raw) {
                for h: UInt64 in [0, 1, 0xDEAD_BEEF, UInt64.max] { _ = b.mayContain(h) }
            }
            for version in TableFormat.readableVersions { _ = try? TableFormat.decodeIndex(raw, indexOffset: 0, version: version) }
            if raw.count >= TableFormat.footerSize {
                _ = try? TableFormat.decodeFooter(UnsafeRawBufferPointer(rebasing: raw[(raw.count - TableFormat.footerSize)...]),
                                                  fileSize: raw.count)
            }
            try? ManifestFormat.checkHeader(raw, path: "/db/MANIFEST")
            try? ValueLogFormat.checkHeader(raw, fid: 1, path: "/db/000001.vlog")
        }
    }
}
