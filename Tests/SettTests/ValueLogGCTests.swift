import Foundation
import Synchronization
import Testing
@testable import Sett

/// Value-log GC (`DB.runValueLogGC`): what it collects, what it must leave alone, and
/// that every reader still finds every value it may read.
@Suite struct ValueLogGCTests {
    /// Transaction mode, values of 64 bytes or more in the value log, 100 entries per
    /// value-log file: keys 0..<100 fill file 1, 100..<200 file 2.
    static func options(_ dir: String) -> Options {
        var o = smallOptions(dir, managed: false)
        o.valueThreshold = 64
        o.valueLogMaxEntries = 100
        return o
    }

    static func val(_ i: Int, _ round: Int) -> [UInt8] {
        let seed = Array("value \(i) round \(round) ".utf8)
        return (0 ..< 300).map { seed[$0 % seed.count] }
    }

    /// Writes keys `range` (10 per transaction) with values of `round`.
    static func put(_ db: DB, _ range: Range<Int>, round: Int) throws {
        try updateInBatches(db, range, perTxn: 10) { txn, i in try txn.set(key(i), val(i, round)) }
    }

    /// Expects key i to hold `round(i)`'s value, through `get` and a full iteration.
    static func expectValues(_ db: DB, count: Int, round: (Int) -> Int,
                             sourceLocation: SourceLocation = #_sourceLocation) throws {
        for i in 0 ..< count {
            #expect(try db.view { try $0.get(key(i))?.value() } == val(i, round(i)), "key \(i)",
                    sourceLocation: sourceLocation)
        }
        let values: [[UInt8]] = try db.view { txn in
            var out: [[UInt8]] = []
            let it = txn.makeIterator()
            it.rewind()
            while let item = it.item {
                out.append(try item.value())
                it.next()
            }
            return out
        }
        for (i, v) in values.enumerated() {
            #expect(v == val(i, round(i)), "iterated key \(i)", sourceLocation: sourceLocation)
        }
        let seen = values.count
        #expect(seen == count, sourceLocation: sourceLocation)
    }

    /// 200 keys, the first 50 overwritten and the old versions compacted away: file 1 is
    /// half stale. GC moves its 50 live values, removes it, and every value reads the
    /// same before and after a reopen.
    @Test func collectsAHalfStaleFileAndMovesItsLiveValues() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(Self.options(dir.path))
        try Self.put(db, 0 ..< 200, round: 1)
        try Self.put(db, 0 ..< 50, round: 2)
        try db.flatten()
        #expect(db.valueLog.fileIds.contains(1))
        let staleBefore = db.stats().valueLogStaleBytes
        #expect(staleBefore > 0, "compaction reported the overwritten values")
        #expect(try db.runValueLogGC(discardRatio: 0.9) == nil, "file 1 is only half stale")

        let r = try #require(try db.runValueLogGC(discardRatio: 0.4))
        #expect(r.fileId == 1)
        #expect(r.movedEntries == 50)
        #expect(r.droppedEntries == 50)
        #expect(!db.valueLog.fileIds.contains(1))
        #expect(!FileManager.default.fileExists(atPath: dir.file("000001.vlog")))
        #expect(db.stats().valueLogStaleBytes < staleBefore, "file 1's stale bytes left the count with it")
        let round = { (i: Int) in i < 50 ? 2 : 1 }
        try Self.expectValues(db, count: 200, round: round)
        try db.close()

        let reopened = try DB.open(Self.options(dir.path))
        defer { try? reopened.close() }
        try Self.expectValues(reopened, count: 200, round: round)
        // Moved values survive their own compaction too.
        try reopened.flatten()
        try Self.expectValues(reopened, count: 200, round: round)
    }

    /// Overwriting everything makes files 1 and 2 entirely stale: repeated GC removes both
    /// and moves nothing.
    @Test func collectsFullyStaleFilesUntilNothingQualifies() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(Self.options(dir.path))
        defer { try? db.close() }
        try Self.put(db, 0 ..< 200, round: 1)
        try Self.put(db, 0 ..< 200, round: 2)
        try db.flatten()
        var removed: [UInt32] = []
        while let r = try db.runValueLogGC(discardRatio: 0.5) {
            #expect(r.movedEntries == 0)
            removed.append(r.fileId)
        }
        #expect(removed.sorted() == [1, 2])
        try Self.expectValues(db, count: 200, round: { _ in 2 })
    }

    /// A read transaction opened before the overwrite still sees the old values: their
    /// file is kept until it ends.
    @Test func anOpenTransactionPinsTheVersionsItCanSee() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(Self.options(dir.path))
        defer { try? db.close() }
        try Self.put(db, 0 ..< 200, round: 1)
        let snapshot = try db.newTransaction(update: false)
        try Self.put(db, 0 ..< 100, round: 2)
        try db.flatten()
        #expect(try db.runValueLogGC(discardRatio: 0.1) == nil)
        #expect(db.valueLog.fileIds.contains(1))
        for i in stride(from: 0, to: 100, by: 7) {
            #expect(try snapshot.get(key(i))?.value() == Self.val(i, 1))
        }
        snapshot.discard()
        try db.flatten()
        let r = try #require(try db.runValueLogGC(discardRatio: 0.5))
        #expect(r.fileId == 1)
        try Self.expectValues(db, count: 200, round: { $0 < 100 ? 2 : 1 })
    }

    /// `DB.makeIterator(at:)` below the newest commit (but not below the discard
    /// timestamp) holds its snapshot like a read transaction: compaction keeps its
    /// versions and GC keeps their file until the iterator goes.
    @Test func anOldVersionIteratorPinsItsSnapshot() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(Self.options(dir.path))
        defer { try? db.close() }
        try Self.put(db, 0 ..< 200, round: 1)
        let v1 = db.maxVersion
        let holder = try db.newTransaction(update: false)  // keeps the discard timestamp at v1
        try Self.put(db, 0 ..< 100, round: 2)
        var it: DBIterator? = db.makeIterator(at: v1)
        holder.discard()  // now only the iterator holds v1
        #expect(db.discardTs <= v1)
        try db.flatten()
        #expect(try db.runValueLogGC(discardRatio: 0.1) == nil)
        it!.rewind()
        var i = 0
        while it!.valid {
            #expect(try it!.value() == Self.val(i, 1), "key \(i)")
            i += 1
            it!.next()
        }
        #expect(i == 200)
        it = nil
        try db.update { try $0.set(bytes("bump"), bytes("x")) }
        #expect(db.discardTs > v1)
        try db.flatten()
        #expect(try db.runValueLogGC(discardRatio: 0.5)?.fileId == 1)
    }

    /// Iterators and items made before GC hold pointers into the removed file; they find
    /// the moved values by version.
    @Test func readersFromBeforeGCFindMovedValues() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(Self.options(dir.path))
        defer { try? db.close() }
        try Self.put(db, 0 ..< 200, round: 1)
        try Self.put(db, 0 ..< 50, round: 2)
        try db.flatten()

        let txn = try db.newTransaction(update: false)
        defer { txn.discard() }
        var unprefetched = IteratorOptions()
        unprefetched.prefetchValues = false
        let it = txn.makeIterator(unprefetched)
        it.seek(key(60))
        let item = try #require(it.item)
        let raw = db.makeIterator()
        raw.seek(key(70))

        #expect(try db.runValueLogGC(discardRatio: 0.4)?.fileId == 1)
        #expect(try item.value() == Self.val(60, 1))
        #expect(try raw.value() == Self.val(70, 1))
        #expect(try raw.withValue { Array($0) } == Self.val(70, 1))
        var i = 60
        while let current = it.item, i < 100 {
            #expect(try current.value() == Self.val(i, 1), "key \(i)")
            it.next()
            i += 1
        }
        #expect(i == 100)
    }

    /// Old versions still in the tree (not yet compacted away) but hidden below the
    /// discard timestamp are garbage to GC: all-versions iteration still lists them, and
    /// their `value()` says the value was collected, while every newest value reads.
    @Test func allVersionsIterationAfterGCReportsCollectedOldValues() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var o = Self.options(dir.path)
        o.numLevelZeroTables = 20
        o.numLevelZeroTablesStall = 30
        let db = try DB.open(o)
        defer { try? db.close() }
        try Self.put(db, 0 ..< 200, round: 1)
        try db.flatten()
        try Self.put(db, 0 ..< 50, round: 2)
        try db.flushMemtables()
        #expect(try db.runValueLogGC(discardRatio: 0.4)?.fileId == 1)

        let (items, iterError) = try iterateAll(db, IteratorOptions(allVersions: true))
        #expect(iterError == nil)
        var collected = 0
        var newest = 0
        var lastKey: [UInt8] = []
        for item in items {
            let i = Int(String(decoding: item.key.dropFirst(3), as: UTF8.self))!
            if item.key != lastKey {
                #expect(try item.value() == Self.val(i, i < 50 ? 2 : 1), "newest version of key \(i)")
                newest += 1
            } else {
                do {
                    #expect(try item.value() == Self.val(i, 1))
                } catch let e as SettError where e.code == .notFound {
                    collected += 1
                }
            }
            lastKey = item.key
        }
        #expect(newest == 200)
        #expect(collected == 50, "the 50 overwritten versions of file 1 are still in the tree, values collected")
    }

    /// Expired values are garbage: GC drops them, and all-versions iteration reports
    /// the collected value of an expired newest version as `.notFound`.
    @Test func expiredValuesAreDropped() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(Self.options(dir.path))
        defer { try? db.close() }
        try updateInBatches(db, 0 ..< 100, perTxn: 10) { txn, i in
            var e = Entry(key: key(i), value: Self.val(i, 1))
            if i % 2 == 0 { e.expiresAt = 1 }  // long past
            try txn.set(e)
        }
        try Self.put(db, 100 ..< 200, round: 1)
        #expect(try db.runValueLogGC(discardRatio: 0.4) == nil, "the live WAL (feed) still points into file 1")
        try db.flushMemtables()
        let r = try #require(try db.runValueLogGC(discardRatio: 0.4))
        #expect(r.fileId == 1)
        #expect(r.movedEntries == 50 && r.droppedEntries == 50)
        for i in 0 ..< 100 {
            #expect(try db.view { try $0.get(key(i))?.value() } == (i % 2 == 0 ? nil : Self.val(i, 1)), "key \(i)")
        }
        let (items, iterError) = try iterateAll(db, IteratorOptions(allVersions: true, prefix: bytes("key0000000")))
        #expect(iterError == nil)
        #expect(items.count == 10)
        for item in items where item.isDeletedOrExpired {
            #expect { try item.value() } throws: { ($0 as? SettError)?.code == .notFound }
        }
    }

    /// Retained feed history points into old value-log files: GC leaves them, the feed
    /// reads every batch with its values, and GC's own rewrites never appear in it.
    @Test func feedHistoryIsProtectedAndRewritesAreNotCommits() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var o = Self.options(dir.path)
        o.feedRetentionBytes = 1 << 30
        var db = try DB.open(o)
        try Self.put(db, 0 ..< 200, round: 1)
        try Self.put(db, 0 ..< 50, round: 2)
        try db.flatten()
        #expect(try db.runValueLogGC(discardRatio: 0.1) == nil, "retained history still points into file 1")
        let head = db.maxVersion
        try db.close()

        // Without retention the old segments go at the next flush; GC can then run, and
        // a reader following the live feed sees the next commit, not the rewrite.
        o.feedRetentionBytes = 0
        db = try DB.open(o)
        defer { try? db.close() }
        try db.flatten()
        let reader = try db.makeFeedReader(from: head + 1)
        defer { reader.close() }
        #expect(try db.runValueLogGC(discardRatio: 0.4)?.fileId == 1)
        try db.update { try $0.set(bytes("after-gc"), bytes("x")) }
        let batch = try #require(try reader.next(timeout: 5))
        #expect(batch.entries.map(\.key) == [bytes("after-gc")])
        #expect(try reader.next(timeout: 0) == nil)
    }

    /// GC then a power loss: the moved values were made durable before the file went.
    @Test func aCrashAfterGCLosesNothing() throws {
        let fs = CrashableFileSystem()
        var o = Self.options("/db")
        o.fileSystem = fs
        let db = try DB.open(o)
        try Self.put(db, 0 ..< 200, round: 1)
        try Self.put(db, 0 ..< 50, round: 2)
        try db.flatten()
        try db.sync()
        #expect(try db.runValueLogGC(discardRatio: 0.4)?.fileId == 1)
        var after = Self.options("/db")
        after.fileSystem = fs.crashClone()
        try? db.close()
        let crashed = try DB.open(after)
        defer { try? crashed.close() }
        try Self.expectValues(crashed, count: 200, round: { $0 < 50 ? 2 : 1 })
    }

    /// A power loss at any step of a GC (file operation k of it failing, and every one
    /// after: the process is gone) loses nothing: the durable state reopens with every
    /// value, whether the file was removed or not.
    @Test func aCrashAtAnyStepOfGCLosesNothing() throws {
        func setUp() throws -> (CrashableFileSystem, FaultInjectingFileSystem, DB) {
            let base = CrashableFileSystem()
            let fault = FaultInjectingFileSystem(base)
            var o = Self.options("/db")
            o.fileSystem = fault
            o.logger.logLevel = .critical
            let db = try DB.open(o)
            try Self.put(db, 0 ..< 200, round: 1)
            try Self.put(db, 0 ..< 50, round: 2)
            try db.flatten()
            try db.sync()
            return (base, fault, db)
        }
        let (_, probe, clean) = try setUp()
        let start = probe.operationCount
        #expect(try clean.runValueLogGC(discardRatio: 0.4)?.fileId == 1)
        let steps = probe.operationCount - start
        try clean.close()
        #expect(steps > 10)

        var crashes = 0
        for k in stride(from: 0, through: steps, by: max(1, steps / 40)) {
            let (base, fault, db) = try setUp()
            fault.failOperation(fault.operationCount + k, sticky: true)
            _ = try? db.runValueLogGC(discardRatio: 0.4)
            let clone = base.crashClone(seed: UInt64(k))
            try? db.close()
            var o = Self.options("/db")
            o.fileSystem = clone
            o.logger.logLevel = .critical
            let reopened = try DB.open(o)
            try Self.expectValues(reopened, count: 200, round: { $0 < 50 ? 2 : 1 })
            try reopened.close()
            crashes += 1
        }
        #expect(crashes > 10)
    }

    /// Writers overwrite keys while GC runs again and again: every key ends with its last
    /// acknowledged value, and no read ever fails or sees another key's value.
    @Test func gcRacingWritersAndReaders() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(Self.options(dir.path))
        defer { try? db.close() }
        let keys = 120
        try Self.put(db, 0 ..< keys, round: 0)
        let stop = Atomic<Bool>(false)
        let problems = Mutex<[String]>([])
        let last = Mutex<[Int: Int]>([:])
        let collected = Atomic<Int>(0)
        let done = DispatchGroup()
        func spawn(_ body: @escaping @Sendable () -> Void) {
            done.enter()
            Thread {
                body()
                done.leave()
            }.start()
        }
        for w in 0 ..< 2 {
            // Writer w owns the keys i with i % 2 == w, so each key's last value is known.
            spawn {
                var round = 1
                while !stop.load(ordering: .relaxed) {
                    let i = 2 * ((round * 7) % (keys / 2)) + w
                    do {
                        try db.update { try $0.set(key(i), Self.val(i, round)) }
                        last.withLock { $0[i] = round }
                    } catch {
                        problems.withLock { $0.append("write \(i): \(error)") }
                    }
                    round += 1
                }
            }
        }
        spawn {
            var n = 0
            while !stop.load(ordering: .relaxed) {
                let i = n % keys
                n += 1
                do {
                    guard let v = try db.view({ try $0.get(key(i))?.value() }) else {
                        problems.withLock { $0.append("key \(i) missing") }
                        continue
                    }
                    if !v.starts(with: Array("value \(i) round ".utf8)) {
                        problems.withLock { $0.append("key \(i) read another value") }
                    }
                } catch {
                    problems.withLock { $0.append("read \(i): \(error)") }
                }
            }
        }
        spawn {
            while !stop.load(ordering: .relaxed) {
                do {
                    try db.flatten()
                    if try db.runValueLogGC(discardRatio: 0.2) != nil { collected.add(1, ordering: .relaxed) }
                } catch let e as SettError where e.code == .conflict {
                    continue  // a version became visible mid-collection; the file is kept
                } catch {
                    problems.withLock { $0.append("gc: \(error)") }
                }
            }
        }
        // Run until GC has collected a few files (bounded, for a loaded machine).
        let start = Date()
        while Date().timeIntervalSince(start) < 60
            && (collected.load(ordering: .relaxed) < 3 || Date().timeIntervalSince(start) < 1) {
            Thread.sleep(forTimeInterval: 0.05)
        }
        stop.store(true, ordering: .relaxed)
        done.wait()
        #expect(problems.withLock { Array($0.prefix(5)) } == [])
        #expect(collected.load(ordering: .relaxed) > 0, "GC never collected a file")
        let final = last.withLock { $0 }
        for i in 0 ..< keys {
            #expect(try db.view { try $0.get(key(i))?.value() } == Self.val(i, final[i] ?? 0), "key \(i)")
        }
    }

    /// `sett gc` on a closed database removes the stale files and reports it.
    @Test func settGCCommandCollectsAClosedDatabase() throws {
        guard let binary = builtProduct("sett") else {
            Issue.record("the sett executable was not built beside the tests (run swift build first)")
            return
        }
        let dir = TempDir()
        defer { dir.cleanup() }
        var o = Self.options(dir.path)
        let db = try DB.open(o)
        try Self.put(db, 0 ..< 200, round: 1)
        try Self.put(db, 0 ..< 200, round: 2)
        try db.close()

        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["gc", "--dir", dir.path, "--flatten", "--ratio", "0.5"]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(waitForExit(p) == 0, "\(out)")
        #expect(out.contains("removed value-log file 1 "), "\(out)")
        #expect(out.contains("removed value-log file 2 "), "\(out)")

        o.readOnly = true
        let after = try DB.open(o)
        defer { try? after.close() }
        #expect(!after.valueLog.fileIds.contains(1) && !after.valueLog.fileIds.contains(2))
        try Self.expectValues(after, count: 200, round: { _ in 2 })
    }

    /// With `valueLogGCInterval` a background thread collects stale files by itself, and
    /// close stops it.
    @Test func backgroundGCCollectsByItself() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var o = Self.options(dir.path)
        o.valueLogGCInterval = 0.05
        let db = try DB.open(o)
        try Self.put(db, 0 ..< 200, round: 1)
        try Self.put(db, 0 ..< 200, round: 2)
        try db.flatten()
        let start = Date()
        while db.valueLog.fileIds.contains(1) || db.valueLog.fileIds.contains(2), Date().timeIntervalSince(start) < 20 {
            Thread.sleep(forTimeInterval: 0.02)
        }
        #expect(!db.valueLog.fileIds.contains(1) && !db.valueLog.fileIds.contains(2), "\(db.valueLog.fileIds)")
        try Self.expectValues(db, count: 200, round: { _ in 2 })
        try db.close()
        #expect(db.valueLogGCThread == nil)
        var bad = Self.options(dir.path)
        bad.valueLogGCDiscardRatio = 1
        #expect { _ = try DB.open(bad) } throws: { ($0 as? SettError)?.code == .invalidArgument }
    }

    /// Managed mode (a follower): the caller's discard timestamp decides which old
    /// versions are garbage; below it GC takes them, above it the file stays.
    @Test func managedModeFollowsTheCallersDiscardTimestamp() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var o = Self.options(dir.path)
        o.managedMode = true
        let db = try DB.open(o)
        defer { try? db.close() }
        for start in stride(from: 0, to: 200, by: 10) {  // versions 1...20, file 1 then 2
            var b = EntryBatch()
            for i in start ..< start + 10 { b.set(key(i), Self.val(i, 1), version: UInt64(start / 10 + 1)) }
            try db.write(b)
        }
        for start in stride(from: 0, to: 50, by: 10) {  // versions 21...25 overwrite keys 0..<50
            var b = EntryBatch()
            for i in start ..< start + 10 { b.set(key(i), Self.val(i, 2), version: UInt64(21 + start / 10)) }
            try db.write(b)
        }
        try db.flatten()
        #expect(try db.runValueLogGC(discardRatio: 0.4) == nil, "discard timestamp 0: readers may see every version")
        #expect(try db.view(at: 1) { try $0.get(key(0))?.value() } == Self.val(0, 1))
        db.setDiscardTs(25)
        try db.flatten()
        #expect(try db.runValueLogGC(discardRatio: 0.4)?.fileId == 1)
        for i in 0 ..< 200 {
            #expect(try db.view(at: 25) { try $0.get(key(i))?.value() } == Self.val(i, i < 50 ? 2 : 1), "key \(i)")
        }
    }

    @Test func badRatiosAndReadOnlyAreRefused() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(Self.options(dir.path))
        try Self.put(db, 0 ..< 10, round: 1)
        for ratio in [0.0, 1.0, -0.5, 2] {
            #expect { try db.runValueLogGC(discardRatio: ratio) } throws: { ($0 as? SettError)?.code == .invalidArgument }
        }
        try db.close()
        var o = Self.options(dir.path)
        o.readOnly = true
        let ro = try DB.open(o)
        defer { try? ro.close() }
        #expect { try ro.runValueLogGC() } throws: { ($0 as? SettError)?.code == .readOnly }
    }
}
