import Foundation
import Logging
import Testing
@testable import Sett

private func get(_ m: Memtable, _ key: String, at v: UInt64) -> LookupResult? {
    Array(key.utf8).withUnsafeBytes { m.get(userKey: $0, atVersion: v) }
}

private func text(_ r: LookupResult?) -> String? { r.map { String(decoding: $0.value, as: UTF8.self) } }

@Suite struct MemtableTests {
    @Test func walFileNamePadsToSixDigits() {
        #expect(Memtable.walFileName(7) == "000007.wal")
        #expect(Memtable.walFileName(123_456) == "123456.wal")
        #expect(Memtable.walFileName(12_345_678) == "12345678.wal")
    }

    @Test func memtableGetNewestVersionAtOrBelow() throws {
        let m = try Memtable.create(fs: nil, dir: "", fileId: 1, arenaSize: 1 << 16)
        #expect(m.wal == nil && m.isEmpty && m.maxVersion == 0)
        var b = EntryBatch()
        b.set(Array("apple".utf8), Array("a10".utf8), version: 10)
        b.set(Array("apple".utf8), Array("a20".utf8), version: 20, userMeta: 3, expiresAt: 99)
        b.delete(Array("apple".utf8), version: 30)
        b.set(Array("apple".utf8), Array("a40".utf8), version: 40)
        b.set(Array("appl".utf8), Array("short".utf8), version: 25)
        b.set(Array("applf".utf8), Array("after".utf8), version: 5)
        #expect(m.canFit(b, pointers: []))
        m.insert(b, pointers: [])
        #expect(!m.isEmpty && m.maxVersion == 40 && m.skiplist.count == 6)

        #expect(get(m, "apple", at: 9) == nil)
        #expect(text(get(m, "apple", at: 10)) == "a10")
        #expect(text(get(m, "apple", at: 19)) == "a10")
        let r20 = get(m, "apple", at: 29)
        #expect(r20?.version == 20 && r20?.userMeta == 3 && r20?.expiresAt == 99 && text(r20) == "a20")
        let r30 = get(m, "apple", at: 39)
        #expect(r30?.version == 30 && r30?.isDeleted == true)
        #expect(get(m, "apple", at: UInt64.max - 1)?.version == 40)
        #expect(get(m, "apple", at: 0) == nil)
        #expect(text(get(m, "appl", at: 100)) == "short")
        #expect(get(m, "appl", at: 24) == nil)   // must not fall through to "apple"
        #expect(get(m, "app", at: 100) == nil)
        #expect(get(m, "zzz", at: 100) == nil)
    }

    @Test func memtableStoresValuePointers() throws {
        let m = try Memtable.create(fs: nil, dir: "", fileId: 1, arenaSize: 1 << 16)
        var b = EntryBatch()
        b.set(Array("small".utf8), Array("inline".utf8), version: 1)
        b.set(Array("large".utf8), [UInt8](repeating: 7, count: 5000), version: 2)
        let vp = ValuePointer(fid: 3, len: 5040, offset: 1234)
        m.insert(b, pointers: [nil, vp])
        let r = try #require(get(m, "large", at: 5))
        #expect(r.isPointer && r.value.count == 12)
        #expect(try r.value.withUnsafeBytes { try ValuePointer.decode($0) } == vp)
        #expect(text(get(m, "small", at: 5)) == "inline")
        #expect(get(m, "small", at: 5)?.isPointer == false)
    }

    @Test func memtableCanFitIsConservative() throws {
        let m = try Memtable.create(fs: nil, dir: "", fileId: 1, arenaSize: 1 << 14)
        var inserted = 0
        var i = 0
        while true {
            var b = EntryBatch()
            for j in 0 ..< 3 { b.set(Array("k\(i)-\(j)".utf8), [UInt8](repeating: 1, count: 30 + i % 50), version: 1) }
            i += 1
            if !m.canFit(b, pointers: []) { break }
            m.insert(b, pointers: [])   // traps if canFit lied
            inserted += 3
        }
        #expect(m.skiplist.count == inserted)
        #expect(m.skiplist.memoryUsed > (1 << 14) / 2)
    }

    @Test func memtableReplayRebuildsFromWAL() throws {
        let dir = WALTempDir()
        defer { dir.cleanup() }
        let fs = PosixFileSystem.shared
        let m = try Memtable.create(fs: fs, dir: dir.path, fileId: 12, arenaSize: 1 << 16)
        let path = dir.file("000012.wal")
        #expect(m.walPath == path && fs.exists(path))
        #expect(throws: SettError.self) { _ = try Memtable.create(fs: fs, dir: dir.path, fileId: 12, arenaSize: 1 << 16) }
        for i in 0 ..< 30 {
            let b = walSampleBatch(i)
            let pointers: [ValuePointer?] = i == 4 ? [ValuePointer(fid: 1, len: 2, offset: 3), nil] : []
            var w = ByteWriter()
            WALRecord.encode(batch: b, pointers: pointers, into: &w)
            #expect(m.canFit(b, pointers: pointers))
            try m.wal!.append(w)
            m.insert(b, pointers: pointers)
        }
        try m.wal!.sync()
        let before = m.skiplist.makeIterator()
        m.wal!.close()

        // Replay into a smaller arena than the contents need: it grows to fit.
        let r = try Memtable.replay(fs: fs, dir: dir.path, fileId: 12, arenaSize: 1 << 10, readOnly: true,
                                    logger: walQuietLogger)
        #expect(r.wal == nil)
        #expect(r.replayResult?.records == 30 && r.replayResult?.truncated == false)
        #expect(r.maxVersion == m.maxVersion && r.skiplist.count == m.skiplist.count)
        let after = r.skiplist.makeIterator()
        before.seekToFirst()
        after.seekToFirst()
        while before.valid {
            #expect(after.valid && Array(after.key) == Array(before.key))
            #expect(Array(after.value.bytes) == Array(before.value.bytes) && after.value.meta == before.value.meta)
            #expect(after.value.expiresAt == before.value.expiresAt && after.value.userMeta == before.value.userMeta)
            before.next()
            after.next()
        }
        #expect(!after.valid)
        #expect(get(r, "key4", at: 41)?.isPointer == true)

        // Read-write replay continues the WAL; deleteWAL removes it.
        let rw = try Memtable.replay(fs: fs, dir: dir.path, fileId: 12, arenaSize: 1 << 16, readOnly: false,
                                     logger: walQuietLogger)
        #expect(rw.wal?.size == Int64(walFileBytes(path).count))
        try rw.deleteWAL()
        #expect(!fs.exists(path) && rw.wal == nil)
        #expect(throws: SettError.self) {
            _ = try Memtable.replay(fs: fs, dir: dir.path, fileId: 12, arenaSize: 1 << 16, readOnly: true,
                                    logger: walQuietLogger)
        }
    }
}
