import Synchronization

/// The commit pipeline behind `awaitWrite`, in three roles:
///
/// - **Leader**: the request at the front of the write queue takes a group from the
///   queue, writes it (value log, then one WAL append), and hands the queue to the next
///   request; with `syncWrites` at once, the group waiting as pending for the drainer.
/// - **Drainer**: one thread at a time. With `syncWrites` it fsyncs the WAL once for
///   every group appended so far, then applies those groups to the memtable in append
///   order, marks their commit timestamps done and wakes each of their committers.
///   Groups appended during its fsync are left for the next round: the drainer hands
///   the role to the leader of the oldest of them and returns.
/// - **Member**: every other committer sleeps on its own request until it is done.
///
/// So the next group's append overlaps this group's fsync, fsyncs run back to back, and
/// a finished fsync wakes only the committers it covers, each once. Without
/// `syncWrites` there is no drainer: each leader applies its own group before handing
/// the queue on, so groups apply in append order with nobody waiting.
extension DB {
    /// A group whose records are in the WAL, waiting for its fsync and memtable insert.
    struct AppendedGroup {
        let seq: UInt64
        let requests: [WriteRequest]
        let memtable: Memtable
        /// The arena reserved in `memtable` for this group.
        let arenaBytes: Int
        let wal: WALWriter
        let walEnd: Int64
        let pointers: [[ValuePointer?]]
        let highest: UInt64
    }

    /// Leader: writes a group starting at `request` (the front of the queue) and hands the
    /// queue on. Returns true when this thread took the drain role.
    ///
    /// Wake-ups come last, after the work others wait for: a woken thread may take this
    /// one's core, and a preempted leader or drainer would stall the whole pipeline.
    func leadGroup(_ request: WriteRequest) -> Bool {
        writeMonitor.lock()
        var group: [WriteRequest] = []
        var groupBytes = 0
        for r in writeQueue {
            if !group.isEmpty && groupBytes + r.arenaEstimate > maxBatchArenaBytes { break }
            group.append(r)
            groupBytes += r.arenaEstimate
        }
        writeMonitor.unlock()
        assert(group.first === request)

        var appended: AppendedGroup?
        var failure: (any Error)?
        do { appended = try appendGroup(group, arenaBytes: groupBytes) } catch { failure = error }
        if let appended, !options.syncWrites {
            // Nothing to wait for: apply while still at the front of the queue, so groups
            // are applied in append order without anyone waiting for anyone.
            apply(appended)
            pipeline.withLock {
                appliedGroups = appended.seq
                pipeline.broadcast()  // memtable rotation, `sync` and close wait for applied groups
            }
        }

        writeMonitor.lock()
        writeQueue.removeFirst(group.count)
        let next = writeQueue.first
        if next == nil { writeMonitor.broadcast() }  // `sync` and flushes wait for an empty queue
        writeMonitor.unlock()

        if let appended, options.syncWrites {
            let drain = registerForSync(appended)
            next?.set(.leading)
            return drain
        }
        if appended == nil { markCommitsDone(group) }
        next?.set(.leading)
        wake(group, failure)
        return false
    }

    /// Leader only: rotates the memtable if needed, then value log, then one WAL write,
    /// and returns the group, numbered in append order.
    ///
    /// With `syncWrites` the value log is made durable before the WAL record that points
    /// into it is written, so no WAL record that reaches the disk (even unsynced, even
    /// torn in by a crash) can point at value-log bytes that did not.
    private func appendGroup(_ group: [WriteRequest], arenaBytes: Int) throws -> AppendedGroup {
        try checkOpen()
        try checkWritesAllowed()
        var mt = memMonitor.withLock { memtables[0] }
        if !mt.hasRoom(for: arenaBytes) {
            // Groups still in flight belong in the old memtable: let them land first.
            waitForAppliedGroups()
            try rotateMemtable()
            mt = memMonitor.withLock { memtables[0] }
        }
        // Groups appended but not applied yet hold reservations, so later groups see
        // the room they will take.
        mt.reserve(arenaBytes)
        do { return try writeGroup(group, arenaBytes: arenaBytes, into: mt) } catch {
            mt.release(arenaBytes)
            throw error
        }
    }

    private func writeGroup(_ group: [WriteRequest], arenaBytes: Int, into mt: Memtable) throws -> AppendedGroup {
        walBuffer.bytes.removeAll(keepingCapacity: true)
        var pointers: [[ValuePointer?]] = []
        pointers.reserveCapacity(group.count)
        var highest: UInt64 = 0
        for r in group {
            let p = try valueLog.append(r.batch, threshold: options.valueThreshold)
            pointers.append(p)
            WALRecord.encode(batch: r.batch, pointers: p, into: &walBuffer)
            for s in r.batch.slots where s.version > highest { highest = s.version }
        }
        guard let wal = mt.wal else { throw SettError(.closed, "database is closing") }
        if options.syncWrites {
            do { try valueLog.sync() } catch { throw stopWrites(after: error) }
        }
        try walBuffer.bytes.withUnsafeBytes { try wal.append($0) }
        let walEnd = wal.size
        return pipeline.withLock {
            appendedGroups += 1
            appendedRequests += group.count
            lastAppendedWAL = wal
            pipeline.broadcast()  // a drainer in its group-commit delay may be waiting for us
            return AppendedGroup(seq: appendedGroups, requests: group, memtable: mt, arenaBytes: arenaBytes, wal: wal,
                                 walEnd: walEnd, pointers: pointers, highest: highest)
        }
    }

    /// With `syncWrites`: queues `g` for the drainer. Returns true when the caller takes
    /// the drain role (no drainer is active).
    private func registerForSync(_ g: AppendedGroup) -> Bool {
        pipeline.withLock {
            pendingGroups.append(g)
            if drainerActive { return false }
            drainerActive = true
            return true
        }
    }

    /// Drainer (`syncWrites` only): one round of fsync and apply for every group appended
    /// so far, then hands the role to the oldest group appended since, if any. A failed
    /// fsync is sticky (`stopWrites`): what reached the disk is unknown, so the groups it
    /// covered, and every later one, fail.
    func drainPipeline() {
        pipeline.lock()
        var failure: (any Error)?
        awaitMoreCommittersLocked()
        let target = appendedGroups
        let targetRequests = appendedRequests
        let wal = lastAppendedWAL
        if let e = writeStopError.withLock({ $0 }) {
            failure = Self.refusal(e, "an fsync of the write path")
        } else {
            pipeline.unlock()
            let t0 = monotonicNanos()
            do { try wal?.sync() } catch { failure = stopWrites(after: error) }
            let took = monotonicNanos() &- t0
            pipeline.lock()
            fsyncNanos = fsyncNanos == 0 ? took : (fsyncNanos * 7 + took) / 8
            walSyncs += 1
            walSyncNanosTotal &+= took
            if failure == nil { syncedRequests = max(syncedRequests, targetRequests) }
        }
        let count = pendingGroups.prefix { $0.seq <= target }.count
        let ready = pendingGroups[..<count]
        pendingGroups.removeFirst(count)
        pipeline.unlock()

        for g in ready {
            if failure == nil {
                apply(g)
            } else {
                g.memtable.release(g.arenaBytes)
                markCommitsDone(g.requests)
            }
        }

        pipeline.lock()
        if let last = ready.last { appliedGroups = last.seq }
        pipeline.broadcast()  // memtable rotation, `sync` and close wait for applied groups
        let next = pendingGroups.first?.requests.first
        if next == nil { drainerActive = false }
        pipeline.unlock()
        next?.set(.draining)
        for g in ready { wake(g.requests, failure) }
    }

    /// Inserts a written (and, with `syncWrites`, synced) group into its memtable,
    /// publishes it, and marks its commit timestamps done.
    private func apply(_ g: AppendedGroup) {
        for (r, p) in zip(g.requests, g.pointers) { g.memtable.insert(r.batch, pointers: p) }
        g.memtable.release(g.arenaBytes)
        feed.publish(walId: g.wal.fileId, end: g.walEnd, ts: g.highest)
        maxVersionSeen.max(g.highest, ordering: .acquiringAndReleasing)
        markCommitsDone(g.requests)
    }

    /// Marks the commit timestamps of `requests` done (applied or failed), before their
    /// committers wake, so the commit watermark already covers them when they do.
    private func markCommitsDone(_ requests: [WriteRequest]) {
        for r in requests where r.oracleTs != 0 { oracle.doneCommit(r.oracleTs) }
    }

    /// Wakes the committers of `requests`, finished with `failure` (nil: applied).
    private func wake(_ requests: [WriteRequest], _ failure: (any Error)?) {
        for r in requests { r.set(.done, error: failure) }
    }

    /// Pipeline lock held. The group-commit delay (PostgreSQL's commit_delay, sized
    /// automatically): when more commits are in flight than this fsync would cover
    /// (typically the previous group, just woken and about to commit again), wait up to
    /// half a typical fsync for them to append, so one fsync covers them too instead of the
    /// committers splitting into two alternating cohorts. A lone committer never waits.
    private func awaitMoreCommittersLocked() {
        let limit = min(fsyncNanos / 2, 1_000_000)
        guard limit > 0 else { return }
        let deadline = monotonicNanos() &+ limit
        while true {
            let unsynced = appendedRequests - syncedRequests
            let others = committersInFlight.load(ordering: .relaxed) - unsynced
            let now = monotonicNanos()
            if others <= 0 || now >= deadline { return }
            pipeline.wait(seconds: Double(deadline - now) / 1e9)
        }
    }

    /// Blocks until every appended group has been applied (or failed).
    func waitForAppliedGroups() {
        pipeline.withLock {
            while appliedGroups != appendedGroups { pipeline.wait() }
        }
    }

    /// Blocks until no write is queued or in flight.
    func waitForWritesIdle() {
        writeMonitor.withLock { while !writeQueue.isEmpty { writeMonitor.wait() } }
        waitForAppliedGroups()
    }
}
