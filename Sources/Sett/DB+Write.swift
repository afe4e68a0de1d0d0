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
        writeMonitor.withLock { writeQueue.append(request) }
        return request
    }

    /// Waits until `request` is applied; if it reaches the front of the queue first,
    /// this thread becomes the leader and writes the group. Blocks the calling thread.
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
        do { try writeGroup(group, arenaBytes: groupBytes) } catch { failure = error }

        writeMonitor.lock()
        writeQueue.removeFirst(group.count)
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

    /// Leader only: value log (+ fsync), then one WAL append (+ fsync), then the skiplist.
    ///
    /// With `syncWrites` the value log is made durable before the WAL record that points
    /// into it is written, so no WAL record that reaches the disk (even unsynced, even
    /// torn in by a crash) can point at value-log bytes that did not.
    private func writeGroup(_ group: [WriteRequest], arenaBytes: Int) throws {
        try checkOpen()
        try checkWritesAllowed()
        var mt = memMonitor.withLock { memtables[0] }
        if mt.skiplist.memoryUsed + arenaBytes > mt.skiplist.capacity {
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
        if options.syncWrites {
            do { try wal.sync() } catch { throw stopWrites(after: error) }
        }
        feed.publish(walId: wal.fileId, end: wal.size, ts: highest)
        for (r, p) in zip(group, pointers) { mt.insert(r.batch, pointers: p) }
        var cur = maxVersionSeen.load(ordering: .relaxed)
        while highest > cur {
            let (ok, now) = maxVersionSeen.compareExchange(expected: cur, desired: highest, ordering: .acquiringAndReleasing)
            if ok { break }
            cur = now
        }
    }

    /// Makes every acknowledged write durable (fsync of the WAL and the value log).
    public func sync() throws {
        try checkOpen()
        if options.readOnly { return }
        // Hold the write queue so no leader is appending while we sync.
        writeMonitor.lock()
        defer { writeMonitor.unlock() }
        while !writeQueue.isEmpty { writeMonitor.wait() }
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
