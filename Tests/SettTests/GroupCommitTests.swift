import Foundation
import Synchronization
import Testing
@testable import Sett

/// The commit pipeline under concurrency: shared fsyncs, commit visibility, memtable
/// rotation mid-pipeline, and a failing fsync while many committers wait on it.
@Suite struct GroupCommitTests {
    static let writers = 8

    /// Runs `body(writer)` on `writers` threads of its own (not a pool capped at the core
    /// count) and waits for all of them.
    static func concurrently(_ body: @escaping @Sendable (Int) -> Void) {
        let done = DispatchGroup()
        for w in 0 ..< writers {
            done.enter()
            Thread {
                body(w)
                done.leave()
            }.start()
        }
        done.wait()
    }

    /// Synced commits from 8 threads share fsyncs, and each commit is visible to the
    /// next transaction its committer starts (the commit watermark covers it on return).
    @Test func concurrentSyncedCommitsShareFsyncsAndAreVisibleOnReturn() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var o = smallOptions(dir.path, managed: false)
        o.syncWrites = true
        let db = try DB.open(o)
        defer { try? db.close() }
        let perWriter = 100
        let problems = Mutex<[String]>([])
        Self.concurrently { w in
            for i in 0 ..< perWriter {
                let k = bytes("w\(w)-\(i)")
                do {
                    try db.update { try $0.set(k, bytes("v\(i)")) }
                    let seen = try db.view { try $0.get(k)?.value() }
                    if seen != bytes("v\(i)") { problems.withLock { $0.append("w\(w)-\(i) not visible after commit") } }
                } catch {
                    problems.withLock { $0.append("w\(w)-\(i): \(error)") }
                }
            }
        }
        #expect(problems.withLock { $0 } == [])
        let s = db.stats()
        #expect(s.walWrites == Self.writers * perWriter)
        #expect(s.walSyncs >= 1)
        #expect(s.walSyncs < s.walWrites, "no fsync was shared: \(s)")
        try db.close()

        let reopened = try DB.open(o)
        defer { try? reopened.close() }
        for w in 0 ..< Self.writers {
            for i in 0 ..< perWriter {
                #expect(try reopened.view { try $0.get(bytes("w\(w)-\(i)"))?.value() } == bytes("v\(i)"))
            }
        }
    }

    /// Many concurrent commits through small memtables: groups in flight land in the old
    /// memtable before it rotates, and version order equals commit order.
    @Test func concurrentCommitsAcrossMemtableRotations() throws {
        for sync in [false, true] {
            let dir = TempDir()
            defer { dir.cleanup() }
            var o = smallOptions(dir.path, managed: false)
            o.syncWrites = sync
            o.memTableSize = 64 << 10
            let db = try DB.open(o)
            let perWriter = 300
            let failures = Atomic<Int>(0)
            Self.concurrently { w in
                for i in 0 ..< perWriter {
                    do {
                        try db.update { txn in
                            try txn.set(bytes("k\(w)-\(i)"), [UInt8](repeating: UInt8(w), count: 200))
                            try txn.set(bytes("last\(w)"), bytes("\(i)"))
                        }
                    } catch {
                        failures.add(1, ordering: .relaxed)
                    }
                }
            }
            #expect(failures.load(ordering: .relaxed) == 0)
            #expect(db.stats().flushes + db.stats().immutableMemtables >= 1, "the workload never rotated a memtable")
            try db.close()
            let reopened = try DB.open(o)
            for w in 0 ..< Self.writers {
                #expect(try reopened.view { try $0.get(bytes("last\(w)"))?.value() } == bytes("\(perWriter - 1)"))
                for i in stride(from: 0, to: perWriter, by: 37) {
                    #expect(try reopened.view { try $0.get(bytes("k\(w)-\(i)"))?.value().count } == 200)
                }
            }
            try reopened.close()
        }
    }

    /// The WAL fsync starts failing while 8 threads commit: every committer returns (none
    /// hangs on the failed sync), every commit after the failure is refused, and every
    /// acknowledged commit survives a crash.
    @Test func failingFsyncUnderConcurrentCommits() throws {
        let base = CrashableFileSystem()
        let fault = FaultInjectingFileSystem(base)
        let db = try DB.open(FaultWorkload.options(fault))
        let acked = Mutex<Set<String>>([])
        let errors = Mutex<[any Error]>([])
        let armAfter = 150
        Self.concurrently { w in
            var i = 0
            while true {
                let k = "w\(w)-\(i)"
                do {
                    try db.update { try $0.set(bytes(k), bytes("value of \(k)")) }
                    let n = acked.withLock { $0.insert(k); return $0.count }
                    if n == armAfter { fault.failMatching(kinds: [.sync], pathPattern: "*.wal") }
                } catch {
                    errors.withLock { $0.append(error) }
                    return
                }
                i += 1
            }
        }
        let errs = errors.withLock { $0 }
        #expect(errs.count == Self.writers)
        #expect(errs.allSatisfy { ($0 as? SettError)?.code == .io }, "\(errs)")
        #expect { try db.update { try $0.set(bytes("after"), bytes("x")) } } throws: { ($0 as? SettError)?.code == .io }
        fault.disarm()
        try? db.close()

        let crashed = try DB.open(FaultWorkload.options(base.crashClone()))
        defer { try? crashed.close() }
        let keys = acked.withLock { $0 }
        #expect(keys.count >= armAfter)
        var missing: [String] = []
        for k in keys where try crashed.view({ try $0.get(bytes(k))?.value() }) != bytes("value of \(k)") {
            missing.append(k)
        }
        #expect(missing == [], "acknowledged commits lost after the crash")
        #expect(try crashed.view { try $0.get(bytes("after")) } == nil)
    }
}
