import Foundation
import Testing
@testable import Sett

@Suite struct DBTests {
    @Test func writeCloseReopenReadsEverythingBack() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var expected: [[UInt8]: [UInt8]] = [:]
        do {
            let db = try DB.open(smallOptions(dir.path))
            var version: UInt64 = 1
            for b in 0 ..< 40 {
                var batch = EntryBatch()
                for j in 0 ..< 100 {
                    let i = (b * 100 + j) % 2500
                    let v = value(i, version: version, size: i % 7 == 0 ? 600 : 40)  // some in the value log
                    batch.set(key(i), v, version: version)
                    expected[key(i)] = v
                }
                try db.write(batch)
                version += 1
            }
            try db.close()
        }
        let db = try DB.open(smallOptions(dir.path))
        defer { try? db.close() }
        for (k, v) in expected {
            #expect(try db.get(k)?.value == v)
        }
        #expect(db.maxVersion == 40)
        #expect(try db.get(bytes("absent")) == nil)
    }

    @Test func readAtVersionSeesNewestVersionAtOrBelowIt() throws {
        let db = try DB.open(managedInMemory())
        defer { try? db.close() }
        for v in stride(from: UInt64(10), through: 50, by: 10) {
            var b = EntryBatch()
            b.set(bytes("k"), bytes("v\(v)"), version: v)
            try db.write(b)
        }
        var del = EntryBatch()
        del.delete(bytes("k"), version: 60)
        try db.write(del)
        #expect(try db.get(bytes("k"), at: 5) == nil)
        #expect(try db.get(bytes("k"), at: 10)?.value == bytes("v10"))
        #expect(try db.get(bytes("k"), at: 35)?.value == bytes("v30"))
        #expect(try db.get(bytes("k"), at: 59)?.version == 50)
        #expect(try db.get(bytes("k"), at: 60) == nil)
        #expect(try db.get(bytes("k")) == nil)
    }

    @Test func versionsSurviveFlushAndCompaction() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(smallOptions(dir.path))
        defer { try? db.close() }
        // Many versions of a few keys, interleaved with filler that forces flushes.
        for v in UInt64(1) ... 60 {
            var b = EntryBatch()
            b.set(bytes("hot"), value(0, version: v), version: v)
            for j in 0 ..< 200 { b.set(key(Int(v) * 1000 + j), value(j, version: v, size: 64), version: v) }
            try db.write(b)
        }
        try db.flatten()
        for v in UInt64(1) ... 60 {
            #expect(try db.get(bytes("hot"), at: v)?.value == value(0, version: v))
        }
        #expect(db.stats().flushes > 0)
    }

    @Test func compactionDropsShadowedVersionsBelowDiscardTs() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(smallOptions(dir.path))
        defer { try? db.close() }
        for v in UInt64(1) ... 30 {
            var b = EntryBatch()
            b.set(bytes("a"), bytes("a\(v)"), version: v)
            if v == 10 { b.delete(bytes("gone"), version: v) } else if v < 10 { b.set(bytes("gone"), bytes("g\(v)"), version: v) }
            try db.write(b)
            for chunk in stride(from: 0, to: 300, by: 100) {
                var filler = EntryBatch()
                for j in chunk ..< chunk + 100 { filler.set(key(j), value(j, version: v, size: 50), version: v) }
                try db.write(filler)
            }
        }
        db.setDiscardTs(20)
        try db.flatten()
        // Newest version at or below the discard timestamp, and everything above it, remain.
        #expect(try db.get(bytes("a"), at: 20)?.value == bytes("a20"))
        #expect(try db.get(bytes("a"), at: 25)?.value == bytes("a25"))
        // Older versions were dropped.
        #expect(try db.get(bytes("a"), at: 19) == nil)
        #expect(try db.get(bytes("a"), at: 5) == nil)
        // The tombstone and everything under it are gone entirely at the bottom level.
        #expect(try db.get(bytes("gone"), at: 9) == nil)
        let it = db.makeIterator(at: 30)
        it.rewind()
        var keys = 0
        while it.valid { keys += 1; it.next() }
        #expect(keys == 301)
    }

    @Test func flushDropsVersionsShadowedBelowDiscardTsButKeepsTombstones() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(smallOptions(dir.path))
        defer { try? db.close() }
        for v in UInt64(1) ... 10 {
            var b = EntryBatch()
            b.set(bytes("a"), bytes("a\(v)"), version: v)
            if v == 4 { b.delete(bytes("d"), version: v) } else if v < 4 { b.set(bytes("d"), bytes("d\(v)"), version: v) }
            try db.write(b)
        }
        db.setDiscardTs(8)
        try db.flushMemtables()
        #expect(db.stats().levels[0].tables == 1)
        #expect(try db.get(bytes("a"), at: 7) == nil)
        #expect(try db.get(bytes("a"), at: 8)?.value == bytes("a8"))
        #expect(try db.get(bytes("a"), at: 9)?.value == bytes("a9"))
        // The tombstone at 4 survives the flush (older data could be in lower levels);
        // the versions under it are gone.
        #expect(try db.get(bytes("d"), at: 3) == nil)
        #expect(try db.get(bytes("d"), at: 10) == nil)
        let it = db.makeIterator(at: 10)
        it.rewind()
        #expect(it.valid && it.key == bytes("a"))
        it.next()
        #expect(!it.valid)
    }

    @Test func iteratorForwardReverseAndSeek() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(smallOptions(dir.path))
        defer { try? db.close() }
        var model: [Int: (UInt64, [UInt8])] = [:]
        var v: UInt64 = 1
        for round in 0 ..< 5 {
            var b = EntryBatch()
            for j in stride(from: round, to: 3000, by: 3) {
                let val = value(j, version: v, size: j % 11 == 0 ? 400 : 30)
                b.set(key(j), val, version: v)
                model[j] = (v, val)
                if b.count == 100 { try db.write(b); b.removeAll() }
            }
            for j in stride(from: 0, to: 3000, by: 17) where round == 3 {
                b.delete(key(j), version: v)
                model[j] = nil
            }
            try db.write(b)
            v += 1
        }
        let live = model.keys.sorted()
        let it = db.makeIterator()
        it.rewind()
        var seen: [Int] = []
        while it.valid {
            let i = Int(String(decoding: it.key.dropFirst(3), as: UTF8.self))!
            #expect(try it.value() == model[i]!.1)
            #expect(it.version == model[i]!.0)
            seen.append(i)
            it.next()
        }
        #expect(seen == live)
        let rit = db.makeIterator(reverse: true)
        rit.rewind()
        var rseen: [Int] = []
        while rit.valid {
            rseen.append(Int(String(decoding: rit.key.dropFirst(3), as: UTF8.self))!)
            rit.next()
        }
        #expect(rseen == live.reversed())
        // Seek lands on the first live key >= target (<= in reverse).
        it.seek(key(1700))
        let fwd = live.first { $0 >= 1700 }!
        #expect(it.key == key(fwd))
        rit.seek(key(1700))
        let back = live.last { $0 <= 1700 }!
        #expect(rit.key == key(back))
        #expect(it.error == nil)
    }

    @Test func secondOpenOfLockedDirectoryFails() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(smallOptions(dir.path))
        defer { try? db.close() }
        #expect {
            _ = try DB.open(smallOptions(dir.path))
        } throws: { ($0 as? SettError)?.code == .locked }
        var ro = smallOptions(dir.path)
        ro.readOnly = true
        #expect(throws: SettError.self) { _ = try DB.open(ro) }
    }

    @Test func readOnlyOpensShareTheLock() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        do {
            let db = try DB.open(smallOptions(dir.path))
            var b = EntryBatch()
            b.set(bytes("x"), bytes("1"), version: 1)
            try db.write(b)
            try db.close()
        }
        var ro = smallOptions(dir.path)
        ro.readOnly = true
        let a = try DB.open(ro)
        let b = try DB.open(ro)
        #expect(try a.get(bytes("x"))?.value == bytes("1"))
        #expect(try b.get(bytes("x"))?.value == bytes("1"))
        var batch = EntryBatch()
        batch.set(bytes("y"), bytes("2"), version: 2)
        #expect { try a.write(batch) } throws: { ($0 as? SettError)?.code == .readOnly }
        try a.close()
        try b.close()
    }

    @Test func invalidOptionsAreRefusedAtOpen() throws {
        var o = Options(dir: "/tmp/never-created-sett")
        o.numLevelZeroTablesStall = o.numLevelZeroTables
        #expect { _ = try DB.open(o) } throws: { ($0 as? SettError)?.code == .invalidArgument }
        var p = Options.inMemory()
        p.syncWrites = true
        #expect { _ = try DB.open(p) } throws: { ($0 as? SettError)?.code == .invalidArgument }
    }

    @Test func oversizedBatchIsRefusedWithTxnTooBig() throws {
        var o = managedInMemory()
        o.memTableSize = 1 << 20
        let db = try DB.open(o)
        defer { try? db.close() }
        var b = EntryBatch()
        for i in 0 ..< 5000 { b.set(key(i), value(i, version: 1, size: 100), version: 1) }
        #expect { try db.write(b) } throws: { ($0 as? SettError)?.code == .txnTooBig }
        var bad = EntryBatch()
        bad.set([UInt8](), bytes("v"), version: 1)
        #expect { try db.write(bad) } throws: { ($0 as? SettError)?.code == .invalidArgument }
    }

    @Test func concurrentWritersAndReaders() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(smallOptions(dir.path))
        defer { try? db.close() }
        let writers = 4, perWriter = 300
        DispatchQueue.concurrentPerform(iterations: writers + 2) { w in
            if w < writers {
                for i in 0 ..< perWriter {
                    var b = EntryBatch()
                    let k = w * perWriter + i
                    b.set(key(k), value(k, version: 1, size: 100), version: UInt64(k + 1))
                    try! db.write(b)
                }
            } else {
                for i in 0 ..< 2000 { _ = try! db.get(key(i % (writers * perWriter))) }
            }
        }
        for k in 0 ..< writers * perWriter {
            #expect(try db.get(key(k))?.value == value(k, version: 1, size: 100))
        }
    }

    @Test func closedDatabaseRefusesCalls() throws {
        let db = try DB.open(managedInMemory())
        try db.close()
        #expect { _ = try db.get(bytes("k")) } throws: { ($0 as? SettError)?.code == .closed }
        try db.close()
    }
}

@Suite struct VersionRetentionTests {
    @Test func shadowedVersionsGoOnceNoReaderNeedsThemAndStayWhileOneDoes() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(smallOptions(dir.path, managed: false))
        defer { try? db.close() }
        for i in 1 ... 5 { try db.update { try $0.set(bytes("k"), bytes("v\(i)")) } }
        let snapshot = try db.newTransaction(update: false)   // pins the read at version 5
        let pinned = snapshot.readTs
        for i in 6 ... 10 { try db.update { try $0.set(bytes("k"), bytes("v\(i)")) } }
        try db.flatten()
        // The open snapshot still reads its version; older ones are gone.
        #expect(try snapshot.get(bytes("k"))?.value() == bytes("v5"))
        #expect(try db.get(bytes("k"), at: pinned)?.value == bytes("v5"))
        #expect(try db.get(bytes("k"), at: pinned - 1) == nil)
        snapshot.discard()
        try db.update { try $0.set(bytes("k"), bytes("v11")) }
        try db.flatten()
        // With no reader open, only the newest version remains.
        #expect(try db.get(bytes("k"))?.value == bytes("v11"))
        #expect(try db.get(bytes("k"), at: db.maxVersion - 1) == nil)
        #expect(try db.get(bytes("k"), at: pinned) == nil)
    }
}
