/// A transaction's writes, ready to be given a timestamp and queued.
struct PreparedCommit {
    var batch: EntryBatch
    var estimate: Int
    var writes: CommittedWrites?
    var reads: ReadSet
}

extension Txn {
    /// Commits the pending writes atomically at a new timestamp, waiting until they
    /// are applied (and, with `syncWrites`, durable). Afterwards the transaction is
    /// finished. Commit of a read-only transaction, or of one without writes, only
    /// finishes it.
    ///
    /// Throws `.conflict` when a read of this transaction was overwritten by a later
    /// commit (nothing was written; retry the transaction), `.invalidArgument` after
    /// `discard` or in managed mode (use `commit(at:)`).
    public func commit() throws {
        try commitSync(commitTs: nil)
    }

    /// Managed mode: commits the pending writes at `commitTs`, chosen by the caller.
    /// The whole transaction is one atomic record: after a crash all of it or none of
    /// it is present. Conflicts are checked as in `commit()` (against commits above
    /// this transaction's read timestamp).
    public func commit(at commitTs: UInt64) throws {
        try commitSync(commitTs: commitTs)
    }

    /// Commits without waiting: `completion` is called, on a Sett thread, with nil once
    /// the writes are applied or with the error. Conflicts and misuse are reported
    /// through `completion` too (possibly before this returns).
    public func commit(completion: @escaping @Sendable ((any Error)?) -> Void) {
        commitAsync(commitTs: nil, completion: completion)
    }

    /// Managed mode: `commit(at:)` without waiting; see `commit(completion:)`.
    public func commit(at commitTs: UInt64, completion: @escaping @Sendable ((any Error)?) -> Void) {
        commitAsync(commitTs: commitTs, completion: completion)
    }

    /// Commits and suspends until the writes are applied. Never blocks a thread of the
    /// Swift concurrency pool: the wait for group commit happens on a Sett thread.
    public func commit() async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            commitAsync(commitTs: nil) { error in
                if let error { c.resume(throwing: error) } else { c.resume() }
            }
        }
    }

    /// Managed mode: `commit(at:)`, suspending instead of blocking.
    public func commit(at commitTs: UInt64) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            commitAsync(commitTs: commitTs) { error in
                if let error { c.resume(throwing: error) } else { c.resume() }
            }
        }
    }

    // MARK: Internals

    private func commitSync(commitTs: UInt64?) throws {
        var enqueued: (UInt64, WriteRequest)?
        try submit(commitTs: commitTs) { ts, request in enqueued = (ts, request) }
        guard let (ts, request) = enqueued else { return }
        try db.completeCommit(request, ts: ts, managed: commitTs != nil)
    }

    private func commitAsync(commitTs: UInt64?, completion: @escaping @Sendable ((any Error)?) -> Void) {
        var inline: (@Sendable () -> Void)?
        do {
            var enqueued = false
            try submit(commitTs: commitTs) { [db] ts, request in
                enqueued = true
                let job: @Sendable () -> Void = {
                    var failure: (any Error)?
                    do { try db.completeCommit(request, ts: ts, managed: commitTs != nil) } catch { failure = error }
                    completion(failure)
                }
                // Submitted under the oracle lock, so jobs start in queue order.
                if !db.committers.submit(job) { inline = job }
            }
            if !enqueued { completion(nil) }
        } catch {
            completion(error)
            return
        }
        inline?()
    }

    /// Checks the mode, builds the batch, then (under the oracle lock) checks conflicts,
    /// takes the timestamp and enqueues the write, calling `onEnqueued` there. Calls
    /// nothing when there is nothing to write. Finishes the transaction in every case.
    private func submit(commitTs: UInt64?, onEnqueued: (UInt64, WriteRequest) -> Void) throws {
        try checkUsable()
        defer { if !finished { finish("committed") } }
        let managed = db.oracle.managed
        if commitTs != nil && !managed { throw SettError.invalid("commit(at:) needs managed mode; use commit()") }
        if commitTs == nil && managed && isUpdate {
            throw SettError.invalid("in managed mode, commit with commit(at:)")
        }
        guard isUpdate, !pending.isEmpty else { return }
        if db.options.readOnly { throw SettError(.readOnly, "database was opened read-only") }
        let prepared = try prepare()
        var batch = prepared.batch
        _ = try db.oracle.commit(readTs: readTs, reads: prepared.reads, writes: prepared.writes, commitTs: commitTs,
                                 discardTs: db.discardTs) { ts in
            batch.setVersion(ts)
            self.commitTs = ts
            let request = db.enqueueWrite(batch, estimate: prepared.estimate, oracleTs: commitTs == nil ? ts : 0)
            onEnqueued(ts, request)
            return request
        }
    }

    private func prepare() throws -> PreparedCommit {
        let sorted = sortedPending()
        var batch = EntryBatch(capacity: sorted.count)
        for w in sorted {
            w.entry.key.withUnsafeBytes { k in
                w.entry.value.withUnsafeBytes { v in
                    batch.add(k, v, version: 1, meta: w.meta, userMeta: w.entry.userMeta, expiresAt: w.entry.expiresAt)
                }
            }
        }
        let estimate = try db.checkedArenaEstimate(batch)
        let writes = db.oracle.detectConflicts ? CommittedWrites(keys: sorted.map(\.entry.key)) : nil
        return PreparedCommit(batch: batch, estimate: estimate, writes: writes, reads: reads)
    }
}

extension DB {
    /// Waits for (or leads) the write of a commit; the pipeline marks its timestamp done.
    /// Non-managed: returns only once every commit at or below `ts` is applied, so a
    /// transaction the caller starts next (reading at the commit mark) sees this one.
    func completeCommit(_ request: WriteRequest, ts: UInt64, managed: Bool) throws {
        var failure: (any Error)?
        do { try awaitWrite(request) } catch { failure = error }
        if !managed {
            oracle.commitMark.waitFor(ts)
            advanceDiscardTs()
        }
        committersInFlight.subtract(1, ordering: .relaxed)
        if let failure { throw failure }
    }
}
