/// Hands out read and commit timestamps and detects conflicts between transactions.
///
/// Non-managed mode: `nextTs` is the next commit timestamp. A commit checks for
/// conflicts, takes `nextTs` and enqueues its write — all under the oracle lock, so the
/// group-commit queue (and the WAL) is in timestamp order. Its timestamp is marked done
/// once the write is in the memtable, and `commit` returns only when the commit mark's
/// `doneUntil` has reached it. A new transaction reads at `doneUntil` without waiting:
/// it sees every commit that has returned, and commits still in flight are concurrent
/// with it (conflict checks cover them). Unlike Badger, which reads at `nextTs - 1` and
/// waits for in-flight commits, starting a transaction never waits for someone else's
/// fsync — so committers pile into the next group commit instead of alternating.
///
/// Managed mode: the caller supplies both timestamps; the commit mark is unused.
///
/// Conflicts: the write sets of committed transactions are kept while an open
/// transaction that started before them may still commit (non-managed: commit
/// timestamp > read mark's `doneUntil`; managed: > min(discardTs, oldest open read)).
///
/// Thread-safe. Lock order: oracle lock, then the write queue's lock.
final class Oracle: @unchecked Sendable {
    private let monitor = Monitor()
    /// Guarded by the lock (read without it only for error messages and fast checks).
    private(set) var managed = false
    private(set) var detectConflicts = true
    private var nextTs: UInt64 = 1
    let readMark = WaterMark()
    let commitMark = WaterMark()
    private var committed: [CommittedWrites] = []
    private var cleanedUpTo: UInt64 = 0

    func start(maxVersion: UInt64, managed: Bool, detectConflicts: Bool) {
        monitor.withLock {
            self.managed = managed
            self.detectConflicts = detectConflicts
            nextTs = maxVersion + 1
            readMark.reset(doneUntil: maxVersion)
            commitMark.reset(doneUntil: maxVersion)
        }
    }

    @inline(__always)
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        try monitor.withLock(body)
    }

    /// Registers a reader. Non-managed (`readTs == nil`): picks the read timestamp and
    /// waits until every commit at or below it is applied. Managed: uses `readTs`.
    func beginRead(_ readTs: UInt64?) throws -> UInt64 {
        let ts: UInt64 = try monitor.withLock {
            if let readTs {
                guard managed else {
                    throw SettError.invalid("a caller-chosen read timestamp needs managed mode")
                }
                readMark.begin(readTs)
                return readTs
            }
            guard !managed else {
                throw SettError.invalid("in managed mode, pass a read timestamp: newTransaction(readTs:update:)")
            }
            let ts = commitMark.doneUntil
            readMark.begin(ts)
            return ts
        }
        return ts
    }

    /// A reader registered by `beginRead` is finished.
    func doneRead(_ ts: UInt64) {
        readMark.done(ts)
    }

    /// Checks `reads` for conflicts, assigns the commit timestamp (or takes the caller's
    /// `commitTs` in managed mode), records `writes` for later conflict checks and
    /// calls `enqueue` with the timestamp — all under the lock.
    func commit(readTs: UInt64, reads: ReadSet, writes: CommittedWrites?, commitTs: UInt64?, discardTs: UInt64,
                enqueue: (UInt64) throws -> WriteRequest) throws -> (UInt64, WriteRequest) {
        try monitor.withLock {
            if let commitTs {
                guard managed else { throw SettError.invalid("commit(at:) needs managed mode; use commit()") }
                guard commitTs > 0 && commitTs < UInt64.max else {
                    throw SettError.invalid("commit timestamp must be in 1..<UInt64.max")
                }
            } else if managed {
                throw SettError.invalid("in managed mode, commit with commit(at:)")
            }
            if detectConflicts && !reads.isEmpty {
                for c in committed.reversed() {
                    if c.commitTs <= readTs {
                        if managed { continue } else { break }
                    }
                    if c.overlaps(reads) {
                        throw SettError(.conflict, "transaction conflict: a key or range it read was written by a "
                            + "transaction that committed at \(c.commitTs), after its read timestamp \(readTs); retry it")
                    }
                }
            }
            let ts: UInt64
            if let commitTs {
                ts = commitTs
            } else {
                ts = nextTs
                nextTs += 1
                commitMark.begin(ts)
            }
            let request: WriteRequest
            do {
                request = try enqueue(ts)
            } catch {
                if commitTs == nil { commitMark.done(ts) }
                throw error
            }
            if detectConflicts, let writes {
                cleanupLocked(discardTs: discardTs)
                writes.commitTs = ts
                committed.append(writes)
            }
            return (ts, request)
        }
    }

    /// The write of a non-managed commit at `ts` is applied (or failed).
    func doneCommit(_ ts: UInt64) {
        commitMark.done(ts)
    }

    /// Non-managed: the next commit timestamp (for tests and stats).
    var pendingNextTs: UInt64 { monitor.withLock { nextTs } }

    /// Committed write sets still kept for conflict checks (for tests).
    var trackedCommits: Int { monitor.withLock { committed.count } }

    /// Leaves managed mode: timestamps continue after `maxVersion`. Caller holds the lock.
    func switchToOracleTimestampsLocked(maxVersion: UInt64) {
        managed = false
        nextTs = maxVersion + 1
        readMark.reset(doneUntil: maxVersion)
        commitMark.reset(doneUntil: maxVersion)
        committed.removeAll()
        cleanedUpTo = 0
    }

    private func cleanupLocked(discardTs: UInt64) {
        var upTo: UInt64
        if managed {
            upTo = discardTs
            if let m = readMark.minPending { upTo = min(upTo, m &- 1) }
        } else {
            upTo = readMark.doneUntil
        }
        guard upTo > cleanedUpTo, !committed.isEmpty else { return }
        cleanedUpTo = upTo
        if managed {
            committed.removeAll { $0.commitTs <= upTo }
        } else {
            var n = 0
            while n < committed.count && committed[n].commitTs <= upTo { n += 1 }
            if n > 0 { committed.removeFirst(n) }
        }
    }
}

extension DB {
    func startOracle(maxVersion: UInt64) {
        oracle.start(maxVersion: maxVersion, managed: options.managedMode, detectConflicts: options.detectConflicts)
        if !options.managedMode { setDiscardTs(maxVersion) }
    }

    /// A transaction at `ts` is finished; in non-managed mode the discard timestamp
    /// follows the oldest open read.
    func finishRead(_ ts: UInt64) {
        oracle.doneRead(ts)
        advanceDiscardTs()
    }

    /// Non-managed: versions at or below the oldest open read timestamp — or, with no
    /// open reads, at or below the last applied commit — may be dropped when shadowed.
    /// Safe without a lock: a transaction that begins later reads at the commit mark,
    /// which never goes below the value read here.
    func advanceDiscardTs() {
        guard !oracle.managed else { return }
        var ts = oracle.commitMark.doneUntil
        if let oldest = oracle.readMark.minPending { ts = min(ts, oldest) }
        setDiscardTs(ts)
    }
}
