import Foundation
import Testing
@testable import Sett

/// The crashable file system itself, and crashes taken at random moments of a running
/// workload (with torn unsynced tails). Replay a failing case with SETT_CRASH_SEED=<seed>.
@Suite struct CrashSimulationTests {
    // MARK: the model

    @Test func unsyncedDataAndUnsyncedDirectoryEntriesDoNotSurviveACrash() throws {
        let fs = CrashableFileSystem()
        try fs.createDirectory("/d")
        let a = try fs.open("/d/a", .createNew)
        try a.write([1, 2, 3], at: 0)
        try a.sync()
        // Synced data, but the directory entry is not durable yet.
        #expect(!fs.crashClone().exists("/d/a"))
        try fs.syncDirectory("/d")
        #expect(fs.crashClone().contents("/d/a") == [1, 2, 3])
        // Appended, not synced: gone after a crash; a torn clone keeps a prefix.
        try a.write([4, 5, 6, 7], at: 3)
        #expect(fs.crashClone().contents("/d/a") == [1, 2, 3])
        var lengths = Set<Int>()
        for seed in UInt64(0) ..< 40 {
            let got = try #require(fs.crashClone(seed: seed).contents("/d/a"))
            #expect(got == Array([1, 2, 3, 4, 5, 6, 7].prefix(got.count)) && got.count >= 3)
            lengths.insert(got.count)
        }
        #expect(lengths.count > 2, "torn clones should keep varying prefixes")
    }

    @Test func renamesAndRemovalsAreUndoneUntilTheDirectoryIsSynced() throws {
        let fs = CrashableFileSystem()
        try fs.createDirectory("/d")
        let f = try fs.open("/d/x.tmp", .createNew)
        try f.write([9], at: 0)
        try f.sync()
        try fs.syncDirectory("/d")
        try fs.rename("/d/x.tmp", "/d/x")
        var c = fs.crashClone()
        #expect(c.exists("/d/x.tmp") && !c.exists("/d/x"))
        try fs.syncDirectory("/d")
        c = fs.crashClone()
        #expect(!c.exists("/d/x.tmp") && c.contents("/d/x") == [9])
        try fs.remove("/d/x")
        #expect(fs.crashClone().contents("/d/x") == [9])
        try fs.syncDirectory("/d")
        #expect(!fs.crashClone().exists("/d/x"))
    }

    @Test func aFailedSyncLosesTheDirtyPagesEvenAfterALaterSync() throws {
        let base = CrashableFileSystem()
        let fault = FaultInjectingFileSystem(base)
        try fault.createDirectory("/d")
        let f = try fault.open("/d/log", .createNew)
        try f.write([UInt8](repeating: 1, count: 100), at: 0)
        try f.sync()
        try fault.syncDirectory("/d")
        try f.write([UInt8](repeating: 2, count: 5000), at: 100)
        fault.failMatching(kinds: [.sync], pathPattern: "log", limit: 1)
        #expect(throws: SettError.self) { try f.sync() }
        try f.write([UInt8](repeating: 3, count: 10), at: 8000)   // page 1 only
        try f.sync()
        let durable = try #require(base.crashClone().contents("/d/log"))
        #expect(durable.count == 8010)
        #expect(durable[0 ..< 100].allSatisfy { $0 == 1 })
        #expect(durable[100 ..< 4096].allSatisfy { $0 == 0 }, "page 0 lost its failed write")
        #expect(durable[4096 ..< 5100].allSatisfy { $0 == 2 }, "page 1 was written again, so whole")
        #expect(durable[8000...].allSatisfy { $0 == 3 })
        var buf = [UInt8](repeating: 0, count: 1)
        _ = try buf.withUnsafeMutableBytes { try f.read(into: $0, at: 200) }
        #expect(buf == [2], "reads still see the page cache")
    }

    @Test func faultRulesCountEveryOperationAndMatchKindAndPath() throws {
        let fault = FaultInjectingFileSystem(CrashableFileSystem())
        try fault.createDirectory("/d")                    // op 0
        fault.failOperation(2)
        let f = try fault.open("/d/1.wal", .createNew)     // op 0
        try f.write([1], at: 0)                            // op 1
        #expect(throws: SettError.self) { try f.sync() }   // op 2 fails
        try f.sync()                                       // op 3
        #expect(fault.injections.map(\.operation) == [.sync])
        fault.failOperation(1, sticky: true)
        _ = try fault.list("/d")
        #expect(throws: SettError.self) { _ = try fault.list("/d") }
        #expect(throws: SettError.self) { try fault.syncDirectory("/d") }
        fault.failMatching(kinds: [.write], pathPattern: "*.sst")
        try f.write([2], at: 1)
        let t = try fault.open("/d/000001.sst", .createNew)
        #expect(throws: SettError.self) { try t.write([1], at: 0) }
        fault.disarm()
        try t.write([1], at: 0)
        #expect(FaultInjectingFileSystem.matches("/db/000012.wal", "*.wal"))
        #expect(!FaultInjectingFileSystem.matches("/db/000012.log", "*.wal"))
        #expect(FaultInjectingFileSystem.matches("/db/MANIFEST", "MANIFEST"))
    }

    // MARK: crashes of a running engine

    /// Syncing nothing: a crash loses the memtable's writes, and the check notices. This
    /// shows the clone really drops unsynced data (the harness is not vacuous).
    @Test func withoutSyncWritesACrashLosesRecentWrites() throws {
        let base = CrashableFileSystem()
        var o = FaultWorkload.options(base)
        o.syncWrites = false
        let db = try DB.open(o)
        for i in 0 ..< 5 { try FaultWorkload.commit(i, on: db) }
        let crashed = base.crashClone()
        try db.close()
        let reopened = try DB.open(FaultWorkload.options(crashed))
        defer { try? reopened.close() }
        #expect(try FaultWorkload.contents(reopened).isEmpty)
    }

    static var seeds: [UInt64] {
        if let s = ProcessInfo.processInfo.environment["SETT_CRASH_SEED"].flatMap({ UInt64($0) }) { return [s] }
        let n = ProcessInfo.processInfo.environment["SETT_SWEEP_FULL"] == "1" ? 200 : 12
        return (0 ..< UInt64(n)).map { $0 &* 7919 &+ 1 }
    }

    /// The workload runs on its own thread while this one takes torn crash clones at
    /// seeded random moments. Each clone must reopen to exactly the state after some
    /// prefix of transactions, at least those acknowledged before the clone was taken.
    @Test func crashClonesTakenWhileWritingReopenToAnAcknowledgedPrefix() throws {
        for seed in Self.seeds {
            var rng = CrashRandom(seed: seed)
            let base = CrashableFileSystem()
            let acked = Shared(0)
            let failure = Shared<String?>(nil)
            let writerDone = DispatchSemaphore(value: 0)
            let t = Thread {
                do {
                    let db = try DB.open(FaultWorkload.options(base))
                    for i in 0 ..< FaultWorkload.transactions {
                        try FaultWorkload.commit(i, on: db)
                        acked.set(i + 1)
                    }
                    try db.close()
                } catch {
                    failure.set("\(error)")
                }
                writerDone.signal()
            }
            t.start()
            var clones: [(lo: Int, hi: Int, fs: CrashableFileSystem)] = []
            for _ in 0 ..< 4 {
                usleep(UInt32(rng.next() % 40_000))
                let lo = acked.get
                let clone = base.crashClone(seed: rng.next())
                let hi = min(acked.get + 1, FaultWorkload.transactions)
                clones.append((lo, hi, clone))
            }
            #expect(writerDone.wait(timeout: .now() + 60) == .success, "seed \(seed): writer hung")
            #expect(failure.get == nil, "seed \(seed): writer failed: \(failure.get ?? "")")
            for (k, c) in clones.enumerated() {
                FaultWorkload.verify(c.fs, allowed: c.lo ... c.hi, "seed \(seed) clone \(k) (acked \(c.lo))")
            }
            FaultWorkload.verify(base.crashClone(seed: seed), allowed: FaultWorkload.transactions ... FaultWorkload.transactions,
                                 "seed \(seed) after close")
        }
    }
}
