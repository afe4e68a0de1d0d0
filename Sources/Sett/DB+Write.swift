/// One caller's batch waiting in the group-commit queue. Mutable state is guarded by
/// `DB.writeMonitor`.
final class WriteRequest: @unchecked Sendable {
    let batch: EntryBatch
    let arenaEstimate: Int
    var done = false
    var error: (any Error)?

    init(batch: EntryBatch, arenaEstimate: Int) {
        self.batch = batch
        self.arenaEstimate = arenaEstimate
    }
}

extension DB {
    /// Applies `batch` atomically: after a crash either all of it or none of it is
    /// present. With `syncWrites` it is durable when this returns.
    ///
    /// This is the managed-mode primitive: the batch carries its own versions. A database
    /// not opened with `Options.managedMode` refuses it with `.invalidArgument` (use
    /// transactions or a `WriteBatch` there).
    ///
    /// Group commit: concurrent writers queue up; the writer at the front writes the
    /// whole queued group with one WAL append (and one fsync), then wakes the others.
    /// Batches are applied in queue order.
    public func write(_ batch: EntryBatch) throws {
        try checkWritable()
        if batch.isEmpty { return }
        try batch.validate(maxKeySize: options.maxKeySize, maxValueSize: options.maxValueSize)
        let estimate = try checkedArenaEstimate(batch)
        let request = try oracle.withLock { () throws -> WriteRequest in
            guard oracle.managed else {
                throw SettError.invalid("DB.write(EntryBatch) needs managed mode; use transactions or a WriteBatch")
            }
            return enqueueWrite(batch, estimate: estimate)
        }
        defer { committersInFlight.subtract(1, ordering: .relaxed) }
        try awaitWrite(request)
    }

    func checkWritable() throws {
        try checkOpen()
        if options.readOnly { throw SettError(.readOnly, "database was opened read-only") }
    }

    /// The arena estimate of `batch`, refusing one above `maxBatchArenaBytes`.
    func checkedArenaEstimate(_ batch: EntryBatch) throws -> Int {
        let estimate = arenaEstimate(batch)
        if estimate > maxBatchArenaBytes {
            throw SettError(.txnTooBig, "batch needs about \(estimate) bytes of memtable; the limit is \(maxBatchArenaBytes) "
                + "(15% of memTableSize)")
        }
        return estimate
    }

    /// Appends a validated batch to the group-commit queue. Callers that need queue
    /// order to equal version order (the oracle) call this under their own lock.
    func enqueueWrite(_ batch: EntryBatch, estimate: Int) -> WriteRequest {
        let request = WriteRequest(batch: batch, arenaEstimate: estimate)
        committersInFlight.add(1, ordering: .relaxed)
        writeMonitor.withLock { writeQueue.append(request) }
        return request
    }

    /// Waits until `request` is applied; if it reaches the front of the queue first,
    /// this thread becomes the leader and writes the group. Blocks the calling thread.
    ///
    /// Pipelined group commit: the leader appends its group (value log, then one WAL
    /// write) and hands the queue to the next leader at once; then it waits for an
    /// fsync that covers its group (one sync covers every group appended before it
    /// starts), and applies its group to the memtable in append order. So the next
    /// group's append overlaps this group's fsync, and fsyncs run back to back.
    func awaitWrite(_ request: WriteRequest) throws {
        writeMonitor.lock()
        while !request.done && writeQueue.first !== request { writeMonitor.wait() }
        if request.done {
            writeMonitor.unlock()
            if let e = request.error { throw e }
            return
        }
        // Leader: take a group from the front of the queue.
        var group: [WriteRequest] = []
        var groupBytes = 0
        for r in writeQueue {
            if !group.isEmpty && groupBytes + r.arenaEstimate > maxBatchArenaBytes { break }
            group.append(r)
            groupBytes += r.arenaEstimate
        }
        writeMonitor.unlock()

        var failure: (any Error)?
        var appended: AppendedGroup?
        do { appended = try appendGroup(group, arenaBytes: groupBytes) } catch { failure = error }

        // Hand the queue to the next leader; this group's members keep waiting for `done`.
        writeMonitor.lock()
        writeQueue.removeFirst(group.count)
        writeMonitor.broadcast()
        writeMonitor.unlock()

        if let appended {
            do { try finishGroup(group, appended) } catch { failure = error }
        }

        writeMonitor.lock()
        for r in group {
            r.done = true
            r.error = failure
        }
        writeMonitor.broadcast()
        writeMonitor.unlock()
        if let failure { throw failure }
    }

    /// The largest memtable share one batch (or one commit group) may take.
    var maxBatchArenaBytes: Int { options.memTableSize * 15 / 100 }

    /// A conservative bound on the arena bytes `batch` takes in a memtable.
    func arenaEstimate(_ batch: EntryBatch) -> Int {
        var total = 0
        for s in batch.slots {
            let valueBytes = s.valueCount >= options.valueThreshold && s.meta & EntryMeta.delete == 0
                ? ValuePointer.encodedSize : s.valueCount
            total += Skiplist.nodeSizeEstimate(keyCount: s.keyCount + InternalKey.suffixSize,
                                               valueEncodedSize: 2 + 10 + valueBytes)
        }
        return total
    }

    /// Refuses writes once an fsync of the write path, a memtable flush or a compaction
    /// has failed: continuing could acknowledge writes that a later replay loses (a
    /// failed fsync may drop the dirty pages of earlier records), or grow memtables and
    /// L0 without bound. The error names the first failure; reopen to recover.
    func checkWritesAllowed() throws {
        if let e = writeStopError.withLock({ $0 }) { throw Self.refusal(e, "an fsync of the write path") }
        if let e = memMonitor.withLock({ flushError }) { throw Self.refusal(e, "a memtable flush") }
        if let e = levels.monitor.withLock({ levels.backgroundErrorLocked }) { throw Self.refusal(e, "a compaction") }
    }

    static func refusal(_ e: SettError, _ what: String) -> SettError {
        SettError(.io, "writes refused after an earlier I/O error in \(what) (reopen the database to recover): "
            + e.message, file: e.file, offset: e.offset, errno: e.errno)
    }

    /// Records a failed write-path fsync (see `checkWritesAllowed`) and returns the error.
    func stopWrites(after error: any Error) -> any Error {
        let e = error as? SettError ?? SettError(.io, "\(error)")
        writeStopError.withLock { if $0 == nil { $0 = e } }
        logger.error("fsync failed; writes will be refused until reopen", metadata: ["error": "\(e)"])
        return error
    }

    /// A group whose records are in the WAL, waiting for its fsync and memtable insert.
    struct AppendedGroup {
        let seq: UInt64
        let memtable: Memtable
        let wal: WALWriter
        let walEnd: Int64
        let pointers: [[ValuePointer?]]
        let highest: UInt64
    }

    /// Leader only: rotates the memtable if needed, then value log, then one WAL write.
    ///
    /// With `syncWrites` the value log is made durable before the WAL record that points
    /// into it is written, so no WAL record that reaches the disk (even unsynced, even
    /// torn in by a crash) can point at value-log bytes that did not.
    private func appendGroup(_ group: [WriteRequest], arenaBytes: Int) throws -> AppendedGroup {
        try checkOpen()
        try checkWritesAllowed()
        var mt = memMonitor.withLock { memtables[0] }
        if mt.skiplist.memoryUsed + arenaBytes > mt.skiplist.capacity {
            // Groups still in flight belong in the old memtable: let them land first.
            waitForAppliedGroups()
            try rotateMemtable()
            mt = memMonitor.withLock { memtables[0] }
        }
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
        let seq = pipeline.withLock {
            appendedGroups += 1
            appendedRequests += group.count
            lastAppendedWAL = wal
            pipeline.broadcast()  // a syncer in its group-commit delay may be waiting for us
            return appendedGroups
        }
        return AppendedGroup(seq: seq, memtable: mt, wal: wal, walEnd: wal.size, pointers: pointers, highest: highest)
    }

    /// Any thread: waits for an fsync covering the group (with `syncWrites`), then
    /// applies it to the memtable after every earlier group, then publishes it.
    private func finishGroup(_ group: [WriteRequest], _ g: AppendedGroup) throws {
        var failure: (any Error)?
        if options.syncWrites {
            do { try syncThrough(g.seq) } catch { failure = error }
        }
        pipeline.lock()
        while appliedGroups != g.seq - 1 { pipeline.wait() }
        pipeline.unlock()
        if failure == nil {
            for (r, p) in zip(group, g.pointers) { g.memtable.insert(r.batch, pointers: p) }
            feed.publish(walId: g.wal.fileId, end: g.walEnd, ts: g.highest)
            var cur = maxVersionSeen.load(ordering: .relaxed)
            while g.highest > cur {
                let (ok, now) = maxVersionSeen.compareExchange(expected: cur, desired: g.highest,
                                                               ordering: .acquiringAndReleasing)
                if ok { break }
                cur = now
            }
        }
        pipeline.withLock {
            appliedGroups = g.seq
            pipeline.broadcast()
        }
        if let failure { throw failure }
    }

    /// Returns once an fsync of the WAL that started after group `seq` was appended
    /// has succeeded (the value log was synced before the append). One thread syncs at
    /// a time; the others wait and usually find their group covered. A failed fsync is
    /// sticky (`stopWrites`): what reached the disk is unknown.
    private func syncThrough(_ seq: UInt64) throws {
        pipeline.lock()
        while syncedGroups < seq {
            if let e = writeStopError.withLock({ $0 }) {
                pipeline.unlock()
                throw Self.refusal(e, "an fsync of the write path")
            }
            if syncInProgress {
                pipeline.wait()
                continue
            }
            syncInProgress = true
            awaitMoreCommittersLocked()
            let target = appendedGroups
            let targetRequests = appendedRequests
            let wal = lastAppendedWAL
            pipeline.unlock()
            var failure: (any Error)?
            let t0 = monotonicNanos()
            do { try wal?.sync() } catch { failure = stopWrites(after: error) }
            let took = monotonicNanos() &- t0
            pipeline.lock()
            fsyncNanos = fsyncNanos == 0 ? took : (fsyncNanos * 7 + took) / 8
            syncInProgress = false
            if failure == nil {
                syncedGroups = max(syncedGroups, target)
                syncedRequests = max(syncedRequests, targetRequests)
            }
            pipeline.broadcast()
            if let failure {
                pipeline.unlock()
                throw failure
            }
        }
        pipeline.unlock()
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

    /// Makes every acknowledged write durable (fsync of the WAL and the value log).
    public func sync() throws {
        try checkOpen()
        if options.readOnly { return }
        // Hold the write queue so no leader is appending while we sync.
        writeMonitor.lock()
        defer { writeMonitor.unlock() }
        while !writeQueue.isEmpty { writeMonitor.wait() }
        waitForAppliedGroups()
        try checkWritesAllowed()
        do {
            try valueLog.sync()
            let wals = memMonitor.withLock { memtables.compactMap(\.wal) }
            for w in wals { try w.sync() }
        } catch {
            throw stopWrites(after: error)
        }
    }
}
