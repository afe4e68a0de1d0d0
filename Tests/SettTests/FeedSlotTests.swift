import Foundation
import Testing
@testable import Sett

/// Feed retention slots (PostgreSQL's replication slots): history a consumer still needs
/// stays however small the retention settings, until the slot advances or is dropped.
@Suite struct FeedSlotTests {
    /// Managed mode (FeedTests' batches), no retention of its own: only slots keep history.
    static func options(_ dir: String) -> Options {
        var o = FeedTests.options(dir)
        o.feedRetentionBytes = 0
        return o
    }

    /// Flushes and waits for retention to settle.
    static func flush(_ db: DB) throws { try db.flushMemtables() }

    @Test func aSlotHoldsHistoryUntilItAdvances() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(Self.options(dir.path))
        defer { try? db.close() }
        try db.createFeedSlot("follower-1")
        #expect(db.feedSlots == [FeedSlot(name: "follower-1", position: 0, isLost: false)])
        try FeedTests.write(db, 1 ... 600)
        try Self.flush(db)
        #expect(db.feedOldestTimestamp == 0, "nothing removed while the slot stands at 0")
        let r = try db.makeFeedReader(from: 1)
        #expect(try FeedTests.readAll(r, count: 600) == (1 ... 600).map(FeedTests.expected))
        r.close()

        try db.advanceFeedSlot("follower-1", to: 400)
        try db.advanceFeedSlot("follower-1", to: 100)  // never backwards
        try FeedTests.write(db, 601 ... 700)
        try Self.flush(db)
        #expect(db.feedSlots.first?.position == 400)
        let oldest = db.feedOldestTimestamp
        #expect(oldest > 1 && oldest <= 401, "history up to the slot may go, after it stays: \(oldest)")
        let resumed = try db.makeFeedReader(from: 401)
        #expect(try FeedTests.readAll(resumed, count: 300) == (401 ... 700).map(FeedTests.expected))
        resumed.close()

        try db.dropFeedSlot("follower-1")
        try FeedTests.write(db, 701 ... 710)
        try Self.flush(db)
        #expect(db.feedSlots.isEmpty)
        #expect(db.feedOldestTimestamp > 600, "without the slot retention (0 bytes) removes it all")
    }

    /// Created slots are saved at once; advanced positions at close (after a crash a slot
    /// may stand earlier, never later).
    @Test func slotsSurviveReopenAndCrash() throws {
        let fs = CrashableFileSystem()
        var o = Self.options("/db")
        o.fileSystem = fs
        let db = try DB.open(o)
        try FeedTests.write(db, 1 ... 50)
        try db.createFeedSlot("a", position: 10)
        try db.createFeedSlot("b")
        try db.advanceFeedSlot("a", to: 40)
        var crashed = o
        crashed.fileSystem = fs.crashClone()
        try db.close()
        let reopened = try DB.open(o)
        #expect(reopened.feedSlots.map(\.name) == ["a", "b"])
        #expect(reopened.feedSlots.map(\.position) == [40, 50])
        try reopened.close()
        let afterCrash = try DB.open(crashed)
        defer { try? afterCrash.close() }
        #expect(afterCrash.feedSlots.map(\.position) == [10, 50])
    }

    /// Past `feedSlotMaxRetainedBytes` retention removes history anyway: the slot is lost
    /// and its consumer learns it cannot resume.
    @Test func theCapLosesASlotThatFellTooFarBehind() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var o = Self.options(dir.path)
        o.feedSlotMaxRetainedBytes = 64 << 10
        let db = try DB.open(o)
        defer { try? db.close() }
        try db.createFeedSlot("slow")
        try FeedTests.write(db, 1 ... 2000)
        try Self.flush(db)
        let slot = try #require(db.feedSlots.first)
        #expect(slot.isLost)
        #expect(db.feedOldestTimestamp > 1)
        #expect { _ = try db.makeFeedReader(from: slot.position + 1) } throws: { ($0 as? SettError)?.code == .notRetained }
        #expect { try db.createFeedSlot("late", position: 1) } throws: { ($0 as? SettError)?.code == .notRetained }
    }

    @Test func misuseIsRefused() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(Self.options(dir.path))
        for bad in ["", "has space", String(repeating: "x", count: 65), "slash/name", "é"] {
            #expect { try db.createFeedSlot(bad) } throws: { ($0 as? SettError)?.code == .invalidArgument }
        }
        #expect { try db.advanceFeedSlot("nope", to: 3) } throws: { ($0 as? SettError)?.code == .notFound }
        #expect { try db.dropFeedSlot("nope") } throws: { ($0 as? SettError)?.code == .notFound }
        try db.close()
        var ro = Self.options(dir.path)
        ro.readOnly = true
        let readOnly = try DB.open(ro)
        defer { try? readOnly.close() }
        #expect { try readOnly.createFeedSlot("x") } throws: { ($0 as? SettError)?.code == .readOnly }
    }

    /// A damaged `SLOTS` file stops the open with an error naming it (silently dropping
    /// slots could delete history a consumer needs); the encoding round-trips.
    @Test func slotsFileRoundTripsAndDamageIsCorruption() throws {
        let slots: [String: UInt64] = ["b": 7, "a.1": 1 << 40]
        let bytes = FeedSlotsFormat.encode(slots)
        #expect(try FeedSlotsFormat.decode(bytes, path: "SLOTS") == slots)
        for i in [0, 8, bytes.count / 2, bytes.count - 1] {
            var damaged = bytes
            damaged[i] ^= 0x40
            #expect { _ = try FeedSlotsFormat.decode(damaged, path: "/db/SLOTS") } throws: { e in
                (e as? SettError)?.code == .corruption && (e as? SettError)?.file == "/db/SLOTS"
            }
        }
        #expect { _ = try FeedSlotsFormat.decode(Array(bytes.prefix(5)), path: "SLOTS") } throws: {
            ($0 as? SettError)?.code == .corruption
        }

        let dir = TempDir()
        defer { dir.cleanup() }
        let db = try DB.open(Self.options(dir.path))
        try db.createFeedSlot("x")
        try db.close()
        let path = dir.file("SLOTS")
        var raw = try #require(FileManager.default.contents(atPath: path))
        raw[raw.count - 1] ^= 1
        try raw.write(to: URL(fileURLWithPath: path))
        #expect { _ = try DB.open(Self.options(dir.path)) } throws: { e in
            (e as? SettError)?.code == .corruption && ((e as? SettError)?.file ?? "").hasSuffix("SLOTS")
        }
    }
}
