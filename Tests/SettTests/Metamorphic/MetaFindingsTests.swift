import Foundation
import Testing
@testable import Sett

/// Engine bugs the metamorphic test found, pinned as plain scenarios.
@Suite struct MetaFindingsTests {
    /// Metamorphic seed 1 (tiny-none-vt0-sync): `txn[delete]`, reopen, `txn[delete]` got
    /// commit timestamp 1 twice. Compaction dropped the only entry (a tombstone at the
    /// bottom level, below the discard timestamp), so no table held version 1 and the
    /// reopened oracle started over. Open now also reads the newest retained feed segment.
    @Test func reopenAfterCompactionDroppedTheNewestCommitsNeverReusesATimestamp() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var options = MetaConfig.tiny(dir.path)
        options.valueThreshold = 0
        options.compression = .none
        var db = try DB.open(options)
        var first: UInt64 = 0
        let t1 = try db.newTransaction(update: true)
        try t1.delete(Array("gone".utf8))
        try t1.commit()
        first = t1.commitTs
        // A read transaction lets the discard timestamp advance past the commit; the
        // compaction that follows the flush on close then drops the tombstone.
        try db.view { _ in }
        try db.close()
        db = try DB.open(options)
        let tablesAfter = db.stats().levels.reduce(0) { $0 + $1.tables }
        #expect(db.maxVersion == first, "tables after flatten: \(tablesAfter)")
        let t2 = try db.newTransaction(update: true)
        try t2.delete(Array("gone2".utf8))
        try t2.commit()
        #expect(t2.commitTs > first)
        // With feed retention removing the segment, the FEED floor still knows it.
        try db.close()
        var o2 = options
        o2.feedRetentionBytes = 0
        db = try DB.open(o2)
        try db.update { try $0.set(Array("x".utf8), Array("y".utf8)) }   // something to flush
        try db.close()
        db = try DB.open(o2)
        let t3 = try db.newTransaction(update: true)
        try t3.delete(Array("gone3".utf8))
        try t3.commit()
        #expect(t3.commitTs > t2.commitTs + 1)
        try db.close()
    }
}
