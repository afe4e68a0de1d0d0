import Testing
@testable import Sett

/// Cases the metamorphic soak found; each failed before its fix.
@Suite struct CompactionRegressionTests {
    /// Soak seed 1193639570179172483 (config tiny-zstd-vtmax), shrunk: a compaction
    /// judged "bottommost" by its top table's key range alone dropped the tombstone of
    /// k14 carried in by a wider bottom table, while L6 still held older versions of
    /// k14 — which then came back.
    @Test func tombstoneIsKeptWhileALowerLevelHoldsOlderVersionsOfItsKey() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var o = MetaConfig.tiny(dir.path)
        o.compression = .zstd
        o.valueThreshold = o.memTableSize / 4
        var rng = SplitMix64(seed: 42)
        func v(_ n: Int) -> [UInt8] { (0 ..< n).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
        func put(_ db: DB, _ kv: [(String, Int)]) throws {
            try db.update { t in for (k, n) in kv { try t.set(bytes(k), v(n)) } }
        }
        var db = try DB.open(o)
        try put(db, [("k03", 32)])
        try put(db, [("k20", 304), ("k09", 208), ("k25", 216), ("k39", 475), ("k02", 399)])
        try put(db, [("k00", 273), ("k06", 511), ("k14", 591), ("k04", 241), ("k37", 414)])
        try put(db, [("k07", 367), ("k36", 391), ("k04", 437), ("k06", 315), ("k01", 359), ("k38", 219),
                     ("k02", 266), ("k14", 471), ("k37", 201)])
        try db.close()
        db = try DB.open(o)
        try db.update { try $0.delete(bytes("k14")) }
        let deletedAt = db.maxVersion
        try put(db, [("k29", 303)])
        try db.close()
        db = try DB.open(o)
        defer { try? db.close() }
        try put(db, [("k19", 9)])
        try db.flatten()
        #expect(try db.get(bytes("k14")) == nil)
        for ver in deletedAt ... db.maxVersion { #expect(try db.get(bytes("k14"), at: ver) == nil) }
        try db.view { txn in
            let it = txn.makeIterator(IteratorOptions(allVersions: true))
            var versions: [(UInt64, Bool)] = []
            it.seek(bytes("k14"))
            while let item = it.item, item.key == bytes("k14") {
                versions.append((item.version, item.isDeletedOrExpired))
                it.next()
            }
            // Either nothing is left of k14, or its newest version is the tombstone.
            #expect(versions.first.map { $0.1 } ?? true)
        }
    }
}
