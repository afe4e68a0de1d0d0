import Foundation
import Testing
@testable import Sett

@Suite struct DBCorruptionTests {
    /// Writes `n` keys and closes, leaving them in tables.
    func populate(_ dir: String, n: Int, compression: Compression) throws {
        var o = smallOptions(dir)
        o.compression = compression
        let db = try DB.open(o)
        for chunk in stride(from: 0, to: n, by: 100) {
            var b = EntryBatch()
            for i in chunk ..< min(n, chunk + 100) { b.set(key(i), value(i, version: 1, size: 60), version: 1) }
            try db.write(b)
        }
        try db.close()
    }

    @Test(arguments: [Compression.none, .snappy])
    func flippedByteInATableBlockGivesAnErrorNamingTheFile(_ compression: Compression) throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        try populate(dir.path, n: 2000, compression: compression)
        let tables = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".sst") }.sorted()
        let victim = try #require(tables.first)
        let path = dir.file(victim)
        var data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        data[100] ^= 0x5A   // inside the first data block
        try Data(data).write(to: URL(fileURLWithPath: path))

        var o = smallOptions(dir.path)
        o.compression = compression
        let db = try DB.open(o)
        defer { try? db.close() }
        var failure: SettError?
        for i in 0 ..< 2000 {
            do { _ = try db.get(key(i)) } catch let e as SettError { failure = e; break }
        }
        let e = try #require(failure, "no read reported the corrupt block")
        #expect(e.code == .corruption)
        #expect(e.file?.hasSuffix(victim) == true, "error names \(String(describing: e.file))")
        let it = db.makeIterator()
        it.rewind()
        while it.valid { it.next() }
        #expect(it.error?.code == .corruption)
    }

    @Test func tableMissingFromTheDirectoryFailsOpenNamingIt() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        try populate(dir.path, n: 500, compression: .none)
        let victim = try #require(try FileManager.default.contentsOfDirectory(atPath: dir.path).first { $0.hasSuffix(".sst") })
        try FileManager.default.removeItem(atPath: dir.file(victim))
        #expect {
            _ = try DB.open(smallOptions(dir.path))
        } throws: { e in
            let e = e as? SettError
            return e?.code == .corruption && e?.file?.hasSuffix(victim) == true
        }
    }

    @Test func tornWALTailIsTruncatedAndEarlierBatchesSurvive() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var o = smallOptions(dir.path)
        o.memTableSize = 4 << 20
        do {
            let db = try DB.open(o)
            for v in UInt64(1) ... 20 {
                var b = EntryBatch()
                b.set(bytes("k\(v)"), bytes("v\(v)"), version: v)
                try db.write(b)
            }
            try db.sync()
            // Simulate a crash: no close, so the WAL stays; cut its last record in half.
            let wal = try #require(try FileManager.default.contentsOfDirectory(atPath: dir.path).first { $0.hasSuffix(".wal") })
            let h = try FileHandle(forUpdating: URL(fileURLWithPath: dir.file(wal)))
            let size = try h.seekToEnd()
            try h.truncate(atOffset: size - 5)
            try h.close()
            // Release the lock the way a dead process would: drop the handle without closing.
            db.dirLock?.release()
        }
        let db = try DB.open(o)
        defer { try? db.close() }
        #expect(db.maxVersion == 19)
        for v in UInt64(1) ... 19 { #expect(try db.get(bytes("k\(v)"))?.value == bytes("v\(v)")) }
        #expect(try db.get(bytes("k20")) == nil)
    }
}
