import Foundation
import Testing
@testable import Sett

/// Tombstone-heavy tables are compacted down to the data they delete without waiting for
/// a size trigger, so a range deleted in bulk stops costing scans.
@Suite struct TombstoneCompactionTests {
    static func options(_ dir: String) -> Options {
        var o = smallOptions(dir, managed: false)
        o.numLevelZeroTables = 4  // one L0 table never triggers by count
        o.numLevelZeroTablesStall = 8
        return o
    }

    /// Waits (up to 20 s) until `done` holds.
    static func eventually(_ done: () -> Bool) -> Bool {
        let start = Date()
        while Date().timeIntervalSince(start) < 20 {
            if done() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return done()
    }

    static func tableEntries(_ db: DB) -> (tables: Int, entries: Int, deletions: Int) {
        let snap = db.levels.snapshot()
        var r = (tables: 0, entries: 0, deletions: 0)
        for level in snap.levels {
            for t in level {
                r.tables += 1
                r.entries += t.keyCount
                r.deletions += t.deletionCount
            }
        }
        return r
    }

    /// Every key written, flattened to the bottom, then deleted: the tombstones' L0 table
    /// is pushed down, meets the data, and both go — the tree ends empty, by itself.
    @Test func aBulkDeleteIsCompactedAwayWithoutATrigger() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(Self.options(dir.path))
        defer { try? db.close() }
        try updateInBatches(db, 0 ..< 3000, perTxn: 100) { txn, i in try txn.set(key(i), value(i, version: 1)) }
        try db.flatten()
        #expect(Self.tableEntries(db).deletions == 0)
        try updateInBatches(db, 0 ..< 3000, perTxn: 100) { txn, i in try txn.delete(key(i)) }
        try db.flushMemtables()  // compaction may already be under way
        #expect(Self.eventually { Self.tableEntries(db).tables == 0 }, "left: \(Self.tableEntries(db))")
        let it = db.makeIterator()
        it.rewind()
        #expect(!it.valid)
    }

    /// While a snapshot can still see the deleted data nothing is dropped; once it is
    /// gone, the bottom table full of tombstones is rewritten in place without them.
    @Test func tombstonesAtTheBottomGoOnceNoReaderNeedsThem() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(Self.options(dir.path))
        defer { try? db.close() }
        try updateInBatches(db, 0 ..< 2000, perTxn: 100) { txn, i in try txn.set(key(i), value(i, version: 1)) }
        let snapshot = try db.newTransaction(update: false)
        try updateInBatches(db, 0 ..< 2000, perTxn: 100) { txn, i in try txn.delete(key(i)) }
        try db.flatten()
        // All versions are kept for the snapshot: tombstones and data sit at the bottom.
        #expect(Self.tableEntries(db).deletions == 2000)
        #expect(try snapshot.get(key(7))?.value() == value(7, version: 1))
        snapshot.discard()
        try db.update { try $0.set(bytes("other"), bytes("x")) }  // moves the discard timestamp on
        #expect(Self.eventually { Self.tableEntries(db).deletions == 0 }, "left: \(Self.tableEntries(db))")
        #expect(try db.view { try $0.get(key(7)) } == nil)
        #expect(try db.view { try $0.get(bytes("other"))?.value() } == bytes("x"))
    }

    /// A mixed table (few deletes) is left to the size triggers.
    @Test func aTableWithFewTombstonesIsNotHeavy() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(Self.options(dir.path))
        defer { try? db.close() }
        try db.update { txn in
            for i in 0 ..< 100 { try txn.set(key(i), value(i, version: 1)) }
            for i in 100 ..< 120 { try txn.delete(key(i)) }
        }
        try db.flushMemtables()
        let t = try #require(db.levels.snapshot().levels[0].first)
        #expect(t.deletionCount == 20 && t.keyCount == 120)
        #expect(!LevelsController.isTombstoneHeavy(t))
    }
}
