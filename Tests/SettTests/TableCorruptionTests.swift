#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import Sett

@Suite struct TableCorruptionTests {
    static let entries = TableFixtures.entries(count: 300, seed: 5)

    /// Writes `bytes` (after `mutate`) as a table file and returns its path.
    static func writeTable(_ dir: TableTestDir, _ bytes: [UInt8], name: String = "000009.sst") throws -> String {
        let path = dir.file(name)
        try Table.write(fs: dir.fs, path: path, bytes: bytes)
        return path
    }

    static func expectCorruption(_ path: String, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected a corruption error")
        } catch let e as SettError {
            #expect(e.code == .corruption)
            #expect(e.file == path)
            #expect(e.offset != nil)
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test(arguments: [Compression.none, .snappy, .zstd, .lz4])
    func flippedByteInDataBlockIsCorruptionThroughGetAndIteration(_ c: Compression) throws {
        let dir = TableTestDir()
        defer { dir.remove() }
        var bytes = TableFixtures.build(Self.entries, TableBuilderOptions(blockSize: 1024, bloomFalsePositive: 0.01, compression: c, zstdLevel: 1))
        bytes[5] ^= 0x40 // inside block 0's payload
        let path = try Self.writeTable(dir, bytes)
        let cache = BlockCache(capacityBytes: 1 << 20)
        let table = try Table.open(fs: dir.fs, path: path, id: 9, checksumMode: .onBlockRead, cache: cache)
        let first = Self.entries[0]
        Self.expectCorruption(path) {
            _ = try first.key.withUnsafeBytes { try table.get($0, userKeyHash: KeyHash.hash(first.userKey)) }
        }
        let it = table.makeIterator()
        it.seekToFirst()
        #expect(!it.valid)
        #expect(it.error?.code == .corruption)
        #expect(it.error?.file == path)
        #expect(it.error?.offset == 0)
        // Other blocks still read fine.
        let last = Self.entries.last!
        let r = try last.key.withUnsafeBytes { try table.get($0, userKeyHash: KeyHash.hash(last.userKey)) }
        #expect(r?.value == last.value)
        // Verified at open instead: the open fails.
        Self.expectCorruption(path) {
            _ = try Table.open(fs: dir.fs, path: path, id: 10, checksumMode: .onTableRead, cache: nil)
        }
    }

    /// Without checksum verification every single-byte flip of the first block must give
    /// either some answer or `.corruption`, never a trap.
    @Test(arguments: [Compression.none, .snappy, .lz4])
    func unverifiedCorruptBlocksNeverTrap(_ c: Compression) throws {
        let dir = TableTestDir()
        defer { dir.remove() }
        let entries = Array(Self.entries.prefix(40))
        let good = TableFixtures.build(entries, TableBuilderOptions(blockSize: 512, bloomFalsePositive: 0, compression: c, zstdLevel: 1))
        let firstBlockEnd = 400
        for pos in stride(from: 0, to: firstBlockEnd, by: 5) {
            for flip: UInt8 in [0x01, 0x80, 0xFF] {
                var bytes = good
                bytes[pos] ^= flip
                let path = try Self.writeTable(dir, bytes, name: Table.fileName(UInt64(pos)))
                defer { try? dir.fs.remove(path) }
                guard let table = try? Table.open(fs: dir.fs, path: path, id: 1, checksumMode: .noVerification, cache: nil) else {
                    continue
                }
                for e in entries.prefix(8) {
                    do { _ = try e.key.withUnsafeBytes { try table.get($0, userKeyHash: 0) } } catch let error as SettError {
                        #expect(error.code == .corruption && error.file == path)
                    }
                }
                let it = table.makeIterator()
                it.seekToFirst()
                var n = 0
                while it.valid && n < 1000 { n += 1; it.next() }
                it.seekToLast()
                while it.valid && n < 2000 { n += 1; it.prev() }
                if let e = it.error { #expect(e.code == .corruption && e.file == path) }
            }
        }
    }

    @Test func truncatedTableFailsToOpenNamingTheFile() throws {
        let dir = TableTestDir()
        defer { dir.remove() }
        let bytes = TableFixtures.build(Self.entries, TableBuilderOptions(blockSize: 1024, bloomFalsePositive: 0.01, compression: .snappy, zstdLevel: 1))
        for keep in [0, 10, 40, bytes.count / 2, bytes.count - 33, bytes.count - 20, bytes.count - 1] {
            let path = try Self.writeTable(dir, Array(bytes.prefix(keep)), name: Table.fileName(UInt64(keep)))
            Self.expectCorruption(path) {
                _ = try Table.open(fs: dir.fs, path: path, id: 1, checksumMode: .onBlockRead, cache: nil)
            }
        }
    }

    @Test func corruptIndexOrFooterFailsToOpen() throws {
        let dir = TableTestDir()
        defer { dir.remove() }
        let bytes = TableFixtures.build(Self.entries, TableBuilderOptions(blockSize: 1024, bloomFalsePositive: 0.01, compression: .none, zstdLevel: 1))
        // The last 32 bytes are the footer; the index sits just before it.
        for pos in [bytes.count - 1, bytes.count - 10, bytes.count - 30, bytes.count - 40, bytes.count - 100] {
            var b = bytes
            b[pos] ^= 0x10
            let path = try Self.writeTable(dir, b, name: Table.fileName(UInt64(pos)))
            Self.expectCorruption(path) {
                _ = try Table.open(fs: dir.fs, path: path, id: 1, checksumMode: .noVerification, cache: nil)
            }
        }
    }

    @Test func markedTableIsRemovedWhenReleased() throws {
        let dir = TableTestDir()
        defer { dir.remove() }
        let bytes = TableFixtures.build(Self.entries, TableBuilderOptions(blockSize: 1024, bloomFalsePositive: 0.01, compression: .none, zstdLevel: 1))
        let path = try Self.writeTable(dir, bytes)
        var table: Table? = try Table.open(fs: dir.fs, path: path, id: 9, checksumMode: .onBlockRead, cache: nil)
        let it = table!.makeIterator()
        table!.markForDeletion()
        table = nil
        #expect(dir.fs.exists(path)) // the iterator still holds it
        it.seekToFirst()
        #expect(it.valid && Array(it.key) == Self.entries[0].key)
        _ = consume it
        #expect(!dir.fs.exists(path))
    }
}
