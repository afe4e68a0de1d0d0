#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import Sett

@Suite struct TableTests {
    static let entries = TableFixtures.entries(count: 1500, seed: 42)

    static func options(_ c: Compression, blockSize: Int = 1024, bloom: Double = 0.01) -> TableBuilderOptions {
        TableBuilderOptions(blockSize: blockSize, bloomFalsePositive: bloom, compression: c, zstdLevel: 3)
    }

    /// Builds, writes and opens a table of `entries`.
    static func withTable(_ entries: [RefEntry], _ options: TableBuilderOptions,
                          mode: ChecksumVerificationMode = .onBlockRead, cache: BlockCache? = nil,
                          _ body: (Table, TableTestDir) throws -> Void) throws {
        let dir = TableTestDir()
        defer { dir.remove() }
        let path = dir.file(Table.fileName(7))
        try Table.write(fs: dir.fs, path: path, bytes: TableFixtures.build(entries, options))
        let table = try Table.open(fs: dir.fs, path: path, id: 7, checksumMode: mode, cache: cache)
        try body(table, dir)
    }

    static func check(_ r: LookupResult?, _ e: RefEntry) {
        #expect(r?.version == e.version)
        #expect(r?.meta == e.meta)
        #expect(r?.userMeta == e.userMeta)
        #expect(r?.expiresAt == e.expiresAt)
        #expect(r?.value == e.value)
    }

    /// First index with key >= p (or > p when orEqual).
    static func lowerBound(_ entries: [RefEntry], _ p: [UInt8], orEqual: Bool = false) -> Int {
        var lo = 0, hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            let c = cmpKeys(entries[mid].key, p)
            if c < 0 || (orEqual && c == 0) { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    static func current(_ it: TableIterator) -> [UInt8] { Array(it.key) }

    @Test(arguments: Compression.allCases)
    func roundTripFindsEveryVersionAndMissesReturnNil(_ c: Compression) throws {
        let entries = Self.entries
        let cache = BlockCache(capacityBytes: 1 << 20)
        try Self.withTable(entries, Self.options(c), cache: cache) { table, _ in
            #expect(table.keyCount == entries.count)
            #expect(table.compression == c)
            #expect(table.blockCount > 50)
            #expect(Array(table.smallest) == entries.first!.key)
            #expect(Array(table.biggest) == entries.last!.key)
            #expect(table.maxVersion == entries.map(\.version).max())
            if c != .none { #expect(table.onDiskSize < table.uncompressedSize) }

            for (i, e) in entries.enumerated() {
                let h = KeyHash.hash(e.userKey)
                #expect(table.mayContain(userKeyHash: h))
                // Exact version.
                let r = try e.key.withUnsafeBytes { try table.get($0, userKeyHash: h) }
                Self.check(r, e)
                // Newest version at or below a read timestamp just above this version.
                let above = InternalKey.make(e.userKey, version: e.version + 1)
                let newest = (i > 0 && entries[i - 1].userKey == e.userKey && entries[i - 1].version == e.version + 1)
                    ? entries[i - 1] : e
                Self.check(try above.withUnsafeBytes { try table.get($0, userKeyHash: h) }, newest)
                // Below the oldest version of this key: nothing.
                if i + 1 == entries.count || entries[i + 1].userKey != e.userKey {
                    let below = InternalKey.make(e.userKey, version: e.version - 1)
                    if e.version > 1 { #expect(try below.withUnsafeBytes { try table.get($0, userKeyHash: h) } == nil) }
                }
            }
            // Missing user keys (before, between and after the stored ones).
            var rng = SeededRandom(7)
            let present = Set(entries.map(\.userKey))
            var misses = 0
            for _ in 0 ..< 2000 {
                let u = Array("user:\(UInt32.random(in: 0 ..< 1_100_000, using: &rng))x".utf8)
                if present.contains(u) { continue }
                let k = InternalKey.make(u, version: .max)
                #expect(try k.withUnsafeBytes { try table.get($0, userKeyHash: KeyHash.hash(u)) } == nil)
                misses += 1
            }
            #expect(misses > 1000)
            for u in [[UInt8](), Array("a".utf8), Array("zzzz".utf8)] {
                let k = InternalKey.make(u, version: 5)
                #expect(try k.withUnsafeBytes { try table.get($0, userKeyHash: KeyHash.hash(u)) } == nil)
            }
        }
        if c != .none {
            #expect(cache.count > 0)
            #expect(cache.usedBytes <= 1 << 20)
        }
    }

    @Test(arguments: Compression.allCases)
    func iterationMatchesSortedReference(_ c: Compression) throws {
        let entries = Self.entries
        // No cache: every block load decompresses (exercises the uncached path).
        try Self.withTable(entries, Self.options(c, blockSize: 700), mode: .onTableAndBlockRead) { table, _ in
            let it = table.makeIterator()
            var i = 0
            it.seekToFirst()
            while it.valid {
                #expect(Self.current(it) == entries[i].key)
                #expect(Array(it.value.bytes) == entries[i].value && it.value.meta == entries[i].meta
                        && it.value.expiresAt == entries[i].expiresAt && it.value.userMeta == entries[i].userMeta)
                i += 1
                it.next()
            }
            #expect(i == entries.count)
            #expect(it.error == nil)

            it.seekToLast()
            i = entries.count - 1
            while it.valid {
                #expect(Self.current(it) == entries[i].key)
                i -= 1
                it.prev()
            }
            #expect(i == -1)

            // Seeks to stored keys, to keys between them, and outside the range.
            var rng = SeededRandom(99)
            var probes: [[UInt8]] = entries.map(\.key).shuffled(using: &rng).prefix(600).map { $0 }
            for e in entries.shuffled(using: &rng).prefix(600) {
                probes.append(InternalKey.make(e.userKey, version: UInt64.random(in: 1 ... 1_000_000_000_001, using: &rng)))
                probes.append(InternalKey.make(e.userKey + [0], version: 3))
                probes.append(InternalKey.make(Array(e.userKey.dropLast()), version: .max))
            }
            probes.append(InternalKey.make([], version: .max))
            probes.append(InternalKey.make([0xFF, 0xFF], version: 1))
            for p in probes {
                let lb = Self.lowerBound(entries, p)
                let lower = lb < entries.count ? lb : nil
                p.withUnsafeBytes { it.seek($0) }
                if let lower {
                    #expect(it.valid && Self.current(it) == entries[lower].key)
                    // next/prev from a seek position
                    it.next()
                    if lower + 1 < entries.count { #expect(Self.current(it) == entries[lower + 1].key) } else { #expect(!it.valid) }
                } else {
                    #expect(!it.valid)
                }
                let ub = Self.lowerBound(entries, p, orEqual: true)
                let upper = ub > 0 ? ub - 1 : nil
                p.withUnsafeBytes { it.seekForPrev($0) }
                if let upper {
                    #expect(it.valid && Self.current(it) == entries[upper].key)
                    it.prev()
                    if upper > 0 { #expect(Self.current(it) == entries[upper - 1].key) } else { #expect(!it.valid) }
                } else {
                    #expect(!it.valid)
                }
            }
            #expect(it.error == nil)
        }
    }

    @Test func tinyTableGoldenBytes() throws {
        let opts = TableBuilderOptions(blockSize: 4096, bloomFalsePositive: 0, compression: .none, zstdLevel: 1)
        let b = TableBuilder(options: opts)
        let k1 = InternalKey.make(Array("ab".utf8), version: 2)
        let k2 = InternalKey.make(Array("ac".utf8), version: 1)
        let v = Array("v".utf8)
        k1.withUnsafeBytes { k in v.withUnsafeBytes { b.add(key: k, value: ValueView(meta: 0, userMeta: 7, expiresAt: 300, bytes: $0)) } }
        k2.withUnsafeBytes { k in b.add(key: k, value: ValueView(meta: EntryMeta.delete, userMeta: 0, expiresAt: 0, bytes: UnsafeRawBufferPointer(start: nil, count: 0))) }
        let bytes = b.finish()
        let hex = bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
        let expected =
            // block: entry 0 = overlap 0, diffLen 10, "ab" + BE64(max-2), value 00 07 ac02 "v"
            "00000a00" + "6162" + "fffffffffffffffd" + "0007ac0276"
            // entry 1 = overlap 1, diffLen 9, "c" + BE64(max-1), value 01 00 00
            + "01000900" + "63" + "fffffffffffffffe" + "010000"
            // offsets 0, 19; count 2
            + "00000000" + "13000000" + "02000000"
            // trailer: raw, uncompressed length 47, crc32c
            + "00" + "2f000000" + "5fc592e3"
            // index: compression 0, 1 block, 2 keys, maxVersion 2, uncompressed 47, bloom at 56 len 0 crc 0
            + "00" + "01" + "02" + "02" + "2f" + "38" + "00" + "00000000"
            // smallest, biggest (internal keys), handle: stored 56, first key
            + "0a" + "6162fffffffffffffffd" + "0a" + "6163fffffffffffffffe"
            + "38" + "0a" + "6162fffffffffffffffd"
            // deletionCount 1
            + "01"
            // footer: index at 56, 46 bytes, index crc, version 2, footer crc, magic
            + "3800000000000000" + "2e000000" + "2dc6343f" + "02000000" + "47cbebfa" + "736574742e737374"
        #expect(hex == expected)

        // And it reads back.
        let dir = TableTestDir()
        defer { dir.remove() }
        let path = dir.file(Table.fileName(1))
        try Table.write(fs: dir.fs, path: path, bytes: bytes)
        let t = try Table.open(fs: dir.fs, path: path, id: 1, checksumMode: .onTableAndBlockRead, cache: nil)
        #expect(t.keyCount == 2 && t.deletionCount == 1)
        let r = try k1.withUnsafeBytes { try t.get($0, userKeyHash: 0) }
        #expect(r?.value == v && r?.userMeta == 7 && r?.expiresAt == 300 && r?.version == 2)
        let d = try k2.withUnsafeBytes { try t.get($0, userKeyHash: 0) }
        #expect(d?.isDeleted == true && d?.version == 1)
        #expect(!t.hasBloomFilter)
    }


    /// A format-1 table (written before tables counted deletions) still opens and reads;
    /// its deletion count reads as 0 (unknown).
    @Test func formatOneTableStillReads() throws {
        let hex = "00000a006162fffffffffffffffd0007ac02760100090063fffffffffffffffe01000000000000130000000200000000"
            + "2f0000005fc592e3000102022f3800000000000a6162fffffffffffffffd0a6163fffffffffffffffe380a6162ff"
            + "fffffffffffffd38000000000000002d0000002d72d4b7010000006da8e806736574742e737374"
        var bytes: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            bytes.append(UInt8(hex[i ..< j], radix: 16)!)
            i = j
        }
        let dir = TableTestDir()
        defer { dir.remove() }
        let path = dir.file(Table.fileName(1))
        try Table.write(fs: dir.fs, path: path, bytes: bytes)
        let t = try Table.open(fs: dir.fs, path: path, id: 1, checksumMode: .onTableAndBlockRead, cache: nil)
        #expect(t.keyCount == 2 && t.deletionCount == 0)
        let k1 = InternalKey.make(Array("ab".utf8), version: 2)
        let r = try k1.withUnsafeBytes { try t.get($0, userKeyHash: 0) }
        #expect(r?.value == Array("v".utf8) && r?.userMeta == 7)
    }
    @Test func fileNamesArePaddedAndParsed() {
        #expect(Table.fileName(42) == "000042.sst")
        #expect(Table.fileName(12_345_678) == "12345678.sst")
        #expect(Table.parseFileName("000042.sst") == 42)
        #expect(Table.parseFileName("000042.vlog") == nil)
        #expect(Table.parseFileName("x.sst") == nil)
    }
}
