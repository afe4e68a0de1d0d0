import Foundation
import Testing
@testable import Sett

/// Fault-injection sweep: the fixed `FaultWorkload` runs with operation n failing, for
/// n = 0, 1, 2, ... until a run hits no injected failure. For each n every transaction
/// either commits or throws a `SettError` (never a trap, never a hang); with a single
/// fault the workload goes on with the next transactions (as an application retrying
/// would), with a sticky fault (a crash) it stops. The crash clone (durable state only),
/// taken both when the workload ended and after `close`, must reopen with every
/// acknowledged transaction present, nothing corrupt, and each failed transaction all
/// there or not at all (with a crash: exactly a prefix of the transactions).
///
/// CI runs every `ciStride`-th n (10 for single faults, 16 for crashes); `SETT_SWEEP_FULL=1`
/// runs every n. Replay one case with `SETT_SWEEP_N=<n>` and `--filter` naming the test.
/// Background threads (flush, compaction) make the numbering vary slightly between runs.
@Suite(.serialized) struct FaultSweepTests {
    struct Outcome: Sendable {
        var acked = 0
        var ackedSet = Set<Int>()
        var failedSet = Set<Int>()
        var error: (any Error)?
        var openFailed = false
        var closeError: (any Error)?
        var atStop: CrashableFileSystem?
        var afterClose: CrashableFileSystem?
        var injections: [FaultInjectingFileSystem.Injection] = []
        var operations = 0
    }

    static var full: Bool { ProcessInfo.processInfo.environment["SETT_SWEEP_FULL"] == "1" }
    static var only: Int? { ProcessInfo.processInfo.environment["SETT_SWEEP_N"].flatMap { Int($0) } }

    /// Runs the workload with operation `n` failing (and, when `sticky`, every later one:
    /// the process "dies" there). `tornSeed` makes the clones keep torn unsynced tails.
    static func run(failing n: Int?, sticky: Bool, tornSeed: UInt64? = nil) -> Outcome? {
        let base = CrashableFileSystem()
        let fault = FaultInjectingFileSystem(base)
        if let n { fault.failOperation(n, sticky: sticky) }
        let result = Shared(Outcome())
        let finished = runBounded(seconds: 60) {
            var r = Outcome()
            do {
                let db = try DB.open(FaultWorkload.options(fault))
                for i in 0 ..< FaultWorkload.transactions {
                    do {
                        try FaultWorkload.commit(i, on: db)
                        if r.error == nil { r.acked = i + 1 }
                        r.ackedSet.insert(i)
                    } catch {
                        r.failedSet.insert(i)
                        if r.error == nil { r.error = error }
                        // A crash ends the workload; a single fault lets the application go on.
                        if sticky { break }
                    }
                }
                r.atStop = base.crashClone(seed: tornSeed)
                do { try db.close() } catch { r.closeError = error }
            } catch {
                r.error = error
                r.openFailed = true
                r.atStop = base.crashClone(seed: tornSeed)
            }
            r.afterClose = base.crashClone(seed: tornSeed.map { $0 &+ 1 })
            r.injections = fault.injections
            r.operations = fault.operationCount
            result.set(r)
        }
        if !finished {
            let which = n.map { String($0) } ?? "none"
            Issue.record("workload with operation \(which) failing (sticky \(sticky)) hung for 60 s: injected \(fault.injections)")
            return nil
        }
        return result.get
    }

    /// Checks one outcome; returns false when the sweep should stop (workload passed untouched).
    static func check(_ r: Outcome, n: Int, sticky: Bool) -> Bool {
        let ctx = "n=\(n)\(sticky ? " sticky" : "") injected \(r.injections.prefix(3))"
        for e in [r.error, r.closeError].compactMap({ $0 }) where !(e is SettError) {
            Issue.record("\(ctx): error is not a SettError: \(e)")
        }
        if r.error == nil && r.injections.isEmpty { return false }
        if let e = r.error as? SettError, r.injections.isEmpty {
            Issue.record("\(ctx): workload failed without an injected fault: \(e)")
        }
        if sticky {
            let hi = r.error == nil ? r.acked : min(r.acked + 1, FaultWorkload.transactions)
            FaultWorkload.verify(r.atStop!, allowed: r.acked ... hi, "\(ctx) clone at stop (acked \(r.acked))")
            FaultWorkload.verify(r.afterClose!, allowed: r.acked ... hi, "\(ctx) clone after close (acked \(r.acked))")
        } else {
            let attempted = r.openFailed ? 0 : FaultWorkload.transactions
            FaultWorkload.verify(r.atStop!, acked: r.ackedSet, failed: r.failedSet, attempted: attempted,
                                 "\(ctx) clone at stop (\(r.failedSet.count) failed)")
            FaultWorkload.verify(r.afterClose!, acked: r.ackedSet, failed: r.failedSet, attempted: attempted,
                                 "\(ctx) clone after close (\(r.failedSet.count) failed)")
        }
        return true
    }

    static func sweep(sticky: Bool, ciStride: Int) throws {
        if let n = only {
            if let r = run(failing: n, sticky: sticky) { _ = check(r, n: n, sticky: sticky) }
            return
        }
        let clean = try #require(run(failing: nil, sticky: false))
        #expect(clean.error == nil && clean.acked == FaultWorkload.transactions)
        FaultWorkload.verify(clean.afterClose!, allowed: FaultWorkload.transactions ... FaultWorkload.transactions,
                             "clean run")
        let stride = full ? 1 : ciStride
        var n = 0
        var runs = 0
        var workloadErrors = 0, closeErrors = 0, openErrors = 0
        // Background threads make the operation count vary a little from run to run; go on
        // past the clean count until a run hits nothing.
        while n < clean.operations * 2 + 100 {
            guard let r = run(failing: n, sticky: sticky) else { return }
            runs += 1
            if r.error != nil { workloadErrors += 1 }
            if r.openFailed { openErrors += 1 }
            if r.closeError != nil { closeErrors += 1 }
            if !check(r, n: n, sticky: sticky) { break }
            n += stride
        }
        #expect(runs > 0)
        print("fault sweep (sticky \(sticky)): \(runs) runs, stride \(stride), clean run \(clean.operations) operations; "
            + "\(workloadErrors) stopped by an error (\(openErrors) at open), \(closeErrors) close errors")
    }

    /// Single failures: the engine sees one failing call and must cope.
    @Test func everySingleFailingOperationLeavesAcknowledgedWritesIntactAndNothingCorrupt() throws {
        try Self.sweep(sticky: false, ciStride: 10)
    }

    /// Crash at operation n: every call from n on fails, like a process that died there.
    @Test func crashAtEveryOperationKeepsAcknowledgedWrites() throws {
        try Self.sweep(sticky: true, ciStride: 16)
    }

    /// Every WAL fsync fails: no write may be acknowledged, and the DB must say why.
    @Test func failingWALSyncAcknowledgesNothing() throws {
        let base = CrashableFileSystem()
        let fault = FaultInjectingFileSystem(base)
        let db = try DB.open(FaultWorkload.options(fault))
        fault.failMatching(kinds: [.sync], pathPattern: "*.wal")
        #expect { try FaultWorkload.commit(0, on: db) } throws: { ($0 as? SettError)?.code == .io }
        fault.disarm()
        // The failed fsync may have lost the record's pages: the DB refuses further writes
        // instead of acknowledging ones that a replay could then lose.
        #expect { try FaultWorkload.commit(1, on: db) } throws: { e in
            guard let e = e as? SettError else { return false }
            return e.code == .io && e.message.contains("earlier")
        }
        try? db.close()
        FaultWorkload.verify(base.crashClone(), allowed: 0 ... 1, "after failed WAL sync")
    }

    /// A flush that cannot write its table stops writes with a clear error; nothing is lost.
    @Test func failingFlushStopsWritesAndLosesNothing() throws {
        let base = CrashableFileSystem()
        let fault = FaultInjectingFileSystem(base)
        let db = try DB.open(FaultWorkload.options(fault))
        fault.failMatching(kinds: [.write, .open], pathPattern: "*.sst")
        var acked = 0
        var stopped: (any Error)?
        for i in 0 ..< FaultWorkload.transactions {
            do {
                try FaultWorkload.commit(i, on: db)
                acked = i + 1
            } catch {
                stopped = error
                break
            }
        }
        let e = try #require(stopped as? SettError, "writes went on after the flush failed")
        #expect(e.code == .io)
        fault.disarm()
        #expect(throws: SettError.self) { try db.close() }
        FaultWorkload.verify(base.crashClone(), allowed: acked ... acked + 1, "after failed flush")
    }
}
