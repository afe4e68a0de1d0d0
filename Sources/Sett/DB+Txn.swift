extension DB {
    /// True while the database runs in managed mode (caller-chosen timestamps).
    public var isManaged: Bool { oracle.withLock { oracle.managed } }

    /// Starts a transaction reading the latest committed state. An update transaction
    /// may write; a read-only one refuses writes. End it with `commit()` or `discard()`.
    ///
    /// Not in managed mode (throws `.invalidArgument`); use `newTransaction(readTs:update:)`.
    public func newTransaction(update: Bool) throws -> Txn {
        try checkOpen()
        if update && options.readOnly { throw SettError(.readOnly, "database was opened read-only") }
        let ts = try oracle.beginRead(nil)
        return Txn(db: self, readTs: ts, update: update, managed: false)
    }

    /// Managed mode: starts a transaction that reads at `readTs` (it sees versions at or
    /// below it). Commit an update transaction with `commit(at:)`.
    public func newTransaction(readTs: UInt64, update: Bool) throws -> Txn {
        try checkOpen()
        if update && options.readOnly { throw SettError(.readOnly, "database was opened read-only") }
        guard readTs > 0 && readTs < UInt64.max else { throw SettError.invalid("read timestamp must be in 1..<UInt64.max") }
        let ts = try oracle.beginRead(readTs)
        return Txn(db: self, readTs: ts, update: update, managed: true)
    }

    /// Runs `body` in a read-only transaction and discards it afterwards.
    ///
    /// In managed mode it reads the newest versions (as at timestamp `UInt64.max - 1`);
    /// use `view(at:_:)` for a specific snapshot.
    ///
    /// ```swift
    /// let value = try db.view { txn in try txn.get(Array("answer".utf8))?.value() }
    /// ```
    public func view<R>(_ body: (Txn) throws -> R) throws -> R {
        let txn = isManaged ? try newTransaction(readTs: UInt64.max - 1, update: false)
                            : try newTransaction(update: false)
        defer { txn.discard() }
        return try body(txn)
    }

    /// Managed mode: `view` at the snapshot `readTs`.
    public func view<R>(at readTs: UInt64, _ body: (Txn) throws -> R) throws -> R {
        let txn = try newTransaction(readTs: readTs, update: false)
        defer { txn.discard() }
        return try body(txn)
    }

    /// Runs `body` in an update transaction and commits it if `body` returns normally
    /// (discards it if `body` throws). Throws `.conflict` when the commit conflicts;
    /// the caller may simply call `update` again.
    ///
    /// ```swift
    /// try db.update { txn in
    ///     let n = try txn.get(counterKey).map { try Int(String(decoding: $0.value(), as: UTF8.self))! } ?? 0
    ///     try txn.set(counterKey, Array(String(n + 1).utf8))
    /// }
    /// ```
    /// Not in managed mode (throws `.invalidArgument`).
    @discardableResult
    public func update<R>(_ body: (Txn) throws -> R) throws -> R {
        let txn = try newTransaction(update: true)
        defer { txn.discard() }
        let result = try body(txn)
        try txn.commit()
        return result
    }

    /// Leaves managed mode without reopening: from now on the oracle assigns timestamps,
    /// continuing after the highest version present (`maxVersion`). Waits for queued
    /// writes to be applied first. Managed calls (`commit(at:)`, `write(_: EntryBatch)`,
    /// …) then throw `.invalidArgument`. Transactions opened in managed mode should be
    /// finished before: their snapshots are no longer protected from compaction.
    /// A promoted replication follower uses this.
    public func leaveManagedMode() throws {
        try checkOpen()
        try oracle.withLock {
            guard oracle.managed else { throw SettError.invalid("the database is not in managed mode") }
            // Every managed write is enqueued under the oracle lock: drain them.
            waitForWritesIdle()
            let top = max(maxVersion, discardTs)
            oracle.switchToOracleTimestampsLocked(maxVersion: top)
            setDiscardTs(top)
        }
    }
}
