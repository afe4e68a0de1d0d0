import Foundation
import Synchronization
import Testing
@testable import Sett

/// The commit feed: history from retained WAL segments, the live tail, retention.
@Suite struct FeedTests {
    static func options(_ dir: String) -> Options {
        var o = smallOptions(dir)
        o.feedRetentionBytes = 256 << 20  // keep flushed history for the feed
        o.memTableSize = 1 << 16  // rotate and flush often
        o.valueThreshold = 256
        return o
    }

    /// Batch `v`: keys "b<v>-<j>" (j < 3), every third batch with a value-log-sized
    /// value, every fifth deleting an earlier key.
    static func batch(_ v: UInt64) -> EntryBatch {
        var b = EntryBatch()
        for j in 0 ..< 3 {
            b.set(bytes("b\(v)-\(j)"), value(j, version: v, size: v % 3 == 0 && j == 0 ? 600 : 30), version: v,
                  userMeta: UInt8(j))
        }
        if v % 5 == 0 { b.delete(bytes("b\(v - 1)-0"), version: v) }
        b.set(bytes("p\(v)"), value(9, version: v, size: 200), version: v)
        return b
    }

    static func expected(_ v: UInt64) -> CommittedBatch {
        var entries: [FeedEntry] = []
        for j in 0 ..< 3 {
            entries.append(FeedEntry(key: bytes("b\(v)-\(j)"), value: value(j, version: v, size: v % 3 == 0 && j == 0 ? 600 : 30),
                                     version: v, userMeta: UInt8(j), expiresAt: 0, isDelete: false,
                                     discardEarlierVersions: false))
        }
        if v % 5 == 0 {
            entries.append(FeedEntry(key: bytes("b\(v - 1)-0"), value: [], version: v, userMeta: 0, expiresAt: 0,
                                     isDelete: true, discardEarlierVersions: false))
        }
        entries.append(FeedEntry(key: bytes("p\(v)"), value: value(9, version: v, size: 200), version: v, userMeta: 0,
                                 expiresAt: 0, isDelete: false, discardEarlierVersions: false))
        return CommittedBatch(commitTs: v, entries: entries)
    }

    static func write(_ db: DB, _ versions: ClosedRange<UInt64>) throws {
        for v in versions { try db.write(batch(v)) }
    }

    static func readAll(_ r: FeedReader, count: Int, timeout: Double = 5) throws -> [CommittedBatch] {
        var out: [CommittedBatch] = []
        while out.count < count, let b = try r.next(timeout: timeout) { out.append(b) }
        return out
    }

    /// Waits (up to 10 s) until at least `count` retained segments exist.
    static func waitForLogs(_ dir: String, _ count: Int) {
        let deadline = Date().addingTimeInterval(10)
        while segments(dir, ".log").count < count && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
    }

    static func segments(_ dir: String, _ ext: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(ext) }.sorted()
    }

    @Test func readerFromZeroSeesEveryBatchInOrderWithLargeValuesAndDeletes() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(Self.options(dir.path))
        try Self.write(db, 1 ... 60)
        let r = try db.makeFeedReader(from: 0)
        let got = try Self.readAll(r, count: 60)
        #expect(got == (1 ... 60).map(Self.expected))
        #expect(try r.next(timeout: 0.05) == nil)
        #expect(db.feedNewestTimestamp == 60)
        #expect(db.feedOldestTimestamp == 0)
        try db.close()
    }

    @Test func readerFromMiddleTimestampStartsThere() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(Self.options(dir.path))
        try Self.write(db, 1 ... 400)  // several rotations: the start lies in a later segment
        Self.waitForLogs(dir.path, 2)
        #expect(Self.segments(dir.path, ".log").count >= 2)
        let r = try db.makeFeedReader(from: 250)
        let got = try Self.readAll(r, count: 151)
        #expect(got == (250 ... 400).map(Self.expected))
        try db.close()
    }

    @Test func subscriberFromNowReceivesLiveBatches() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(Self.options(dir.path))
        try Self.write(db, 1 ... 10)
        let seen = Mutex<[CommittedBatch]>([])
        let sub = try db.subscribe(from: db.feedNewestTimestamp + 1) { b in
            seen.withLock { $0.append(b) }
            return b.commitTs < 40
        }
        try Self.write(db, 11 ... 40)
        try sub.wait()
        #expect(seen.withLock { $0 } == (11 ... 40).map(Self.expected))
        try db.close()
    }

    @Test func readerFollowsRotationsAndFlushesAndCatchesUpFromLogSegments() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(Self.options(dir.path))
        let r = try db.makeFeedReader(from: 1)
        try Self.write(db, 1 ... 5)
        #expect(try Self.readAll(r, count: 5) == (1 ... 5).map(Self.expected))
        // Fall far behind: many memtables are written, flushed and retired meanwhile.
        try Self.write(db, 6 ... 700)
        Self.waitForLogs(dir.path, 3)
        #expect(Self.segments(dir.path, ".log").count >= 3)
        // Catch up, with live writes interleaved.
        var got: [CommittedBatch] = []
        var next: UInt64 = 701
        while got.count < 795 {
            if next <= 800 && got.count % 50 == 0 {
                try db.write(Self.batch(next))
                next += 1
            }
            guard let b = try r.next(timeout: 5) else { break }
            got.append(b)
            if got.count == 695 { try Self.write(db, next ... 800); next = 801 }
        }
        #expect(got.map(\.commitTs) == Array(6 ... 800))
        #expect(got == (6 ... 800).map(Self.expected))
        try db.close()
    }

    @Test func retentionBySizeRemovesOldSegmentsAndEarlyStartsFail() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var o = Self.options(dir.path)
        o.feedRetentionBytes = 100 << 10
        let db = try DB.open(o)
        let laggard = try db.makeFeedReader(from: 1)
        try Self.write(db, 1 ... 3)
        #expect(try laggard.next(timeout: 1)?.commitTs == 1)
        try Self.write(db, 4 ... 2000)
        let deadline = Date().addingTimeInterval(10)
        while db.stats().immutableMemtables > 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(db.feedOldestTimestamp > 300, "retention removed several segments")
        // The reader that fell behind learns its history is gone.
        var failure: SettError?
        do {
            while try laggard.next(timeout: 1) != nil {}
        } catch let e as SettError { failure = e }
        #expect(failure?.code == .notRetained)
        // Close (the last flush and its retention pass finish) and reopen: the state is stable.
        try db.close()
        let again = try DB.open(o)
        let oldest = again.feedOldestTimestamp
        #expect(oldest > 300)
        let logBytes = Self.segments(dir.path, ".log").reduce(0) { total, name in
            total + ((try? FileManager.default.attributesOfItem(atPath: dir.file(name))[.size] as? Int) ?? 0)
        }
        #expect(logBytes <= 100 << 10)
        // Starting before the oldest retained timestamp fails clearly.
        do {
            _ = try again.makeFeedReader(from: oldest - 1)
            Issue.record("expected notRetained")
        } catch let e as SettError {
            #expect(e.code == .notRetained)
            #expect(e.message.contains("no longer retained"))
        }
        #expect(throws: SettError.self) { _ = try again.subscribe(from: 2) { _ in true } }
        // Starting at it delivers everything from there.
        let r = try again.makeFeedReader(from: oldest)
        #expect(try Self.readAll(r, count: Int(2001 - oldest)) == (oldest ... 2000).map(Self.expected))
        try again.close()
    }

    @Test func retentionByAgeRemovesStaleSegments() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var o = Self.options(dir.path)
        o.feedRetentionSeconds = 60
        let db = try DB.open(o)
        try Self.write(db, 1 ... 400)
        Self.waitForLogs(dir.path, 2)
        try db.feed.enforceRetention()
        #expect(db.feedOldestTimestamp == 0, "nothing is a minute old yet")
        let logs = Self.segments(dir.path, ".log")
        #expect(logs.count >= 2)
        try db.feed.enforceRetention(now: unixNow() + 120)
        #expect(Self.segments(dir.path, ".log").isEmpty)
        let oldest = db.feedOldestTimestamp
        #expect(oldest > 1)
        // What is still in live WALs is served from the floor on.
        let r = try db.makeFeedReader(from: oldest)
        let first = try r.next(timeout: 1)
        #expect(first?.commitTs == oldest)
        try db.close()
    }

    @Test func prefixFilterKeepsMatchingEntriesAndSkipsEmptyBatches() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(Self.options(dir.path))
        for v in UInt64(1) ... 30 {
            var b = EntryBatch()
            b.set(bytes(v % 2 == 0 ? "user/\(v)" : "order/\(v)"), bytes("x\(v)"), version: v)
            b.set(bytes("misc/\(v)"), bytes("m"), version: v)
            if v % 3 == 0 { b.set(bytes("acct/\(v)"), bytes("a"), version: v) }
            try db.write(b)
        }
        let r = try db.makeFeedReader(from: 0, prefixes: [bytes("user/"), bytes("acct/")])
        let got = try Self.readAll(r, count: 100, timeout: 0.2)
        let expected: [(UInt64, [String])] = (UInt64(1) ... 30).compactMap { v in
            var keys: [String] = []
            if v % 2 == 0 { keys.append("user/\(v)") }
            if v % 3 == 0 { keys.append("acct/\(v)") }
            return keys.isEmpty ? nil : (v, keys)
        }
        #expect(got.map(\.commitTs) == expected.map(\.0))
        #expect(got.map { $0.entries.map { String(decoding: $0.key, as: UTF8.self) } } == expected.map(\.1))
        try db.close()
    }

    @Test func slowSubscriberNeverStallsWriters() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(Self.options(dir.path))
        let count = Mutex(0)
        let order = Mutex(true)
        let sub = try db.subscribe(from: 1) { b in
            Thread.sleep(forTimeInterval: 0.002)
            count.withLock {
                if b.commitTs != UInt64($0 + 1) { order.withLock { $0 = false } }
                $0 += 1
            }
            return b.commitTs < 1000
        }
        try Self.write(db, 1 ... 1000)
        let seenWhenWritesDone = count.withLock { $0 }
        // The subscriber needs >= 2 s (2 ms per batch); the writers did not wait for it.
        #expect(seenWhenWritesDone < 1000)
        try sub.wait()
        #expect(count.withLock { $0 } == 1000)
        #expect(order.withLock { $0 })
        try db.close()
    }

    @Test func historySurvivesReopenAndTheFeedContinues() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let o = Self.options(dir.path)
        do {
            let db = try DB.open(o)
            try Self.write(db, 1 ... 300)
            try db.close()
        }
        let db = try DB.open(o)
        #expect(db.feedNewestTimestamp == 300)
        let r = try db.makeFeedReader(from: 1)
        #expect(try Self.readAll(r, count: 300) == (1 ... 300).map(Self.expected))
        try Self.write(db, 301 ... 320)
        #expect(try Self.readAll(r, count: 20) == (301 ... 320).map(Self.expected))
        try db.close()
        // Read-only opens serve the history too.
        var ro = o
        ro.readOnly = true
        let rdb = try DB.open(ro)
        let rr = try rdb.makeFeedReader(from: 100)
        #expect(try Self.readAll(rr, count: 221, timeout: 0.5) == (100 ... 320).map(Self.expected))
        try rdb.close()
    }

    @Test func crashBetweenFlushAndRetireReplaysTheWALButFeedsEachBatchOnce() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let o = Self.options(dir.path)
        do {
            let db = try DB.open(o)
            try Self.write(db, 1 ... 300)
            try db.close()
        }
        // As if the process died after the manifest edit but before the rename.
        let newest = try #require(Self.segments(dir.path, ".log").last)
        try FileManager.default.moveItem(atPath: dir.file(newest), toPath: dir.file(String(newest.dropLast(4)) + ".wal"))
        let db = try DB.open(o)
        let r = try db.makeFeedReader(from: 1)
        #expect(try Self.readAll(r, count: 1000, timeout: 0.3) == (1 ... 300).map(Self.expected))
        #expect(try db.get(bytes("b300-1"))?.value == value(1, version: 300, size: 30))
        try db.close()
        #expect(Self.segments(dir.path, ".wal").allSatisfy { !$0.hasPrefix(String(newest.dropLast(4))) })
    }

    @Test func damagedRecordInARetainedSegmentIsCorruptionNamingTheFile() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let o = Self.options(dir.path)
        do {
            let db = try DB.open(o)
            try Self.write(db, 1 ... 200)
            try db.close()
        }
        let first = try #require(Self.segments(dir.path, ".log").first)
        let h = try #require(FileHandle(forUpdatingAtPath: dir.file(first)))
        try h.seek(toOffset: 200)
        let byte = try #require(try h.read(upToCount: 1))
        try h.seek(toOffset: 200)
        try h.write(contentsOf: Data([byte[0] ^ 0x55]))
        try h.close()
        let db = try DB.open(o)
        let r = try db.makeFeedReader(from: 1)
        do {
            while try r.next(timeout: 0.3) != nil {}
            Issue.record("expected corruption")
        } catch let e as SettError {
            #expect(e.code == .corruption)
            #expect(e.file?.hasSuffix(first) == true)
        }
        try db.close()
    }

    @Test func inMemoryDatabaseServesTheFeed() throws {
        let db = try DB.open(managedInMemory())
        try Self.write(db, 1 ... 20)
        let r = try db.makeFeedReader(from: 5)
        #expect(try Self.readAll(r, count: 16) == (5 ... 20).map(Self.expected))
        try db.close()
    }

    @Test func closingTheDatabaseEndsSubscriptionsAndReaders() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(Self.options(dir.path))
        try Self.write(db, 1 ... 3)
        let sub = try db.subscribe(from: 1) { _ in true }
        let r = try db.makeFeedReader(from: 1)
        #expect(try Self.readAll(r, count: 3).count == 3)
        try db.close()
        try sub.wait()
        #expect(sub.isFinished)
        #expect(throws: SettError.self) { _ = try r.next(timeout: 0.1) }
    }

    @Test func feedStateFileRoundTripsAndRejectsDamage() throws {
        let bytes = FeedStateFormat.encode(floor: 0x0102_0304_0506_0708)
        #expect(bytes.count == 20)
        #expect(Array(bytes[0 ..< 16]) == Array("SETTFED".utf8) + [1, 8, 7, 6, 5, 4, 3, 2, 1])
        #expect(try FeedStateFormat.decode(bytes, path: "FEED") == 0x0102_0304_0506_0708)
        var bad = bytes
        bad[10] ^= 1
        #expect(throws: SettError.self) { _ = try FeedStateFormat.decode(bad, path: "FEED") }
        #expect(throws: SettError.self) { _ = try FeedStateFormat.decode(Array(bytes.prefix(19)), path: "FEED") }
    }
}
