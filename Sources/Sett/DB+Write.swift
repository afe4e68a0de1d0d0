/// One caller's batch in the group-commit pipeline. `batch`, `arenaEstimate` and
/// `oracleTs` are immutable; `state` and `error` are guarded by the request's signal
/// monitor, so each committer is woken alone (no herd on one shared condition).
final class WriteRequest: @unchecked Sendable {
    enum State {
        /// In the write queue behind another request.
        case queued
        /// At the front of the queue: this committer appends the next group.
        case leading
        /// Handed the drain role: sync and apply the pending groups (`drainPipeline`).
        case draining
        /// Applied, or failed with `error`.
        case done
    }

    let batch: EntryBatch
    let arenaEstimate: Int
    /// A non-managed commit's timestamp, marked done in the oracle when the request
    /// completes (0: a managed write, nothing to mark).
    let oracleTs: UInt64
    /// One of `DB.requestSignals`, shared round-robin (a collision only costs a spurious
    /// wake-up), so a request allocates no mutex of its own.
    private let monitor: Monitor
    private var state: State
    private var failure: (any Error)?

    init(batch: EntryBatch, arenaEstimate: Int, oracleTs: UInt64, signal: Monitor, state: State) {
        self.batch = batch
        self.arenaEstimate = arenaEstimate
        self.oracleTs = oracleTs
        self.monitor = signal
        self.state = state
    }

    /// Moves to `newState` (with `error` for a failed `.done`) and wakes the committer.
    func set(_ newState: State, error: (any Error)? = nil) {
        monitor.withLock {
            state = newState
            failure = error
            monitor.broadcast()
        }
    }

    /// Blocks while the state is `current`; returns the new state, and the error when
    /// that is `.done`.
    func wait(while current: State) -> (State, (any Error)?) {
        monitor.withLock {
            while state == current { monitor.wait() }
            return (state, failure)
        }
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
    /// `oracleTs` is the commit timestamp to mark done on completion (0 for none).
    func enqueueWrite(_ batch: EntryBatch, estimate: Int, oracleTs: UInt64 = 0) -> WriteRequest {
        committersInFlight.add(1, ordering: .relaxed)
        return writeMonitor.withLock {
            nextRequestSignal = (nextRequestSignal + 1) & (requestSignals.count - 1)
            // At the front of an empty queue a request leads at once.
            let r = WriteRequest(batch: batch, arenaEstimate: estimate, oracleTs: oracleTs,
                                 signal: requestSignals[nextRequestSignal], state: writeQueue.isEmpty ? .leading : .queued)
            writeQueue.append(r)
            return r
        }
    }

    /// Waits until `request` is applied (or failed). Blocks the calling thread, which
    /// may on the way lead a group (append it) and drain the pipeline (sync and apply);
    /// see `DB+CommitPipeline.swift`.
    func awaitWrite(_ request: WriteRequest) throws {
        var (state, error) = request.wait(while: .queued)
        if state == .leading {
            if leadGroup(request) { drainPipeline() }
            (state, error) = request.wait(while: .leading)
            if state == .draining {
                drainPipeline()
                (state, error) = request.wait(while: .draining)
            }
        }
        assert(state == .done)
        if let error { throw error }
    }

    /// The largest memtable share one batch (or one commit group) may take.
    var maxBatchArenaBytes: Int { options.memTableSize * 15 / 100 }

    /// A conservative bound on the arena bytes `batch` takes in a memtable.
    func arenaEstimate(_ batch: EntryBatch) -> Int {
        var total = 0
        for s in batch.slots {
            total += arenaEstimate(keyCount: s.keyCount, valueCount: s.valueCount, meta: s.meta)
        }
        return total
    }

    /// The bound of `arenaEstimate` for one entry.
    func arenaEstimate(keyCount: Int, valueCount: Int, meta: UInt8) -> Int {
        let valueBytes = valueCount >= options.valueThreshold && meta & EntryMeta.delete == 0
            ? ValuePointer.encodedSize : valueCount
        return Skiplist.nodeSizeEstimate(keyCount: keyCount + InternalKey.suffixSize, valueEncodedSize: 2 + 10 + valueBytes)
    }

    /// Refuses writes once an fsync of the write path, a memtable flush or a compaction
    /// has failed: continuing could acknowledge writes that a later replay loses (a
    /// failed fsync may drop the dirty pages of earlier records), or grow memtables and
    /// L0 without bound. The error names the first failure; reopen to recover.
    func checkWritesAllowed() throws {
        if !writesRefused.load(ordering: .acquiring) && !levels.hasBackgroundError.load(ordering: .acquiring) { return }
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
        writesRefused.store(true, ordering: .releasing)
        logger.error("fsync failed; writes will be refused until reopen", metadata: ["error": "\(e)"])
        return error
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
