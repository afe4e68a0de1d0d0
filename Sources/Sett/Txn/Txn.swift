/// A transaction: a consistent snapshot at `readTs` plus, for an update transaction,
/// writes that become visible atomically at commit.
///
/// Isolation is serializable (snapshot isolation plus conflict detection): commit fails
/// with `.conflict` if a key the transaction read with `get`, or any key inside a range
/// it iterated, was written by a transaction that committed after `readTs`. Retry the
/// whole transaction then (as `DB.update` callers typically do).
///
/// Reads see the transaction's own pending writes. A transaction must end with
/// `commit` or `discard`; one that is released unfinished is discarded (its snapshot
/// otherwise holds back version cleanup). Not thread-safe: use a transaction from one
/// thread (or task) at a time.
///
/// ```swift
/// let txn = try db.newTransaction(update: true)
/// defer { txn.discard() }
/// try txn.set(Array("answer".utf8), Array("42".utf8))
/// try txn.commit()
/// ```
public final class Txn: @unchecked Sendable {
    let db: DB
    /// The snapshot: the transaction sees every version committed at or below it.
    public let readTs: UInt64
    /// False for read-only transactions (`DB.view`), which refuse writes.
    public let isUpdate: Bool
    let managedReadTs: Bool
    var pending: [[UInt8]: PendingWrite] = [:]
    var pendingArenaBytes = 0
    /// Read-set for conflict detection; maintained only for update transactions with
    /// `detectConflicts`.
    var reads = ReadSet()
    let trackReads: Bool
    var finished = false
    var finishReason = ""
    /// The timestamp the writes were committed at; 0 until a commit with writes has
    /// been queued (it is set before the write is applied).
    public internal(set) var commitTs: UInt64 = 0

    init(db: DB, readTs: UInt64, update: Bool, managed: Bool) {
        self.db = db
        self.readTs = readTs
        self.isUpdate = update
        self.managedReadTs = managed
        self.trackReads = update && db.oracle.detectConflicts
    }

    deinit {
        if !finished {
            db.finishRead(readTs)
        }
    }

    /// Number of writes (sets and deletes) waiting for commit.
    public var pendingWriteCount: Int { pending.count }

    /// Ends the transaction without writing anything. Idempotent; calling it after
    /// `commit` does nothing.
    public func discard() {
        guard !finished else { return }
        finish("discarded")
    }

    func finish(_ reason: String) {
        finished = true
        finishReason = reason
        pending.removeAll()
        reads = ReadSet()
        db.finishRead(readTs)
    }

    func checkUsable() throws {
        if finished { throw SettError.invalid("transaction was already \(finishReason)") }
        try db.checkOpen()
    }

    // MARK: Reads

    /// The newest version of `key` visible to this transaction: its own pending write
    /// if there is one, else the newest version committed at or below `readTs`.
    /// Returns nil when the key is absent, deleted or expired.
    public func get(_ key: [UInt8]) throws -> Item? {
        try checkUsable()
        if key.isEmpty { throw SettError.invalid("empty key") }
        if isUpdate, let p = pending[key] {
            if p.isDelete || (p.entry.expiresAt != 0 && p.entry.expiresAt <= unixNow()) { return nil }
            return Item(key: key, version: readTs, meta: p.meta, userMeta: p.entry.userMeta,
                        expiresAt: p.entry.expiresAt, raw: p.entry.value, db: db)
        }
        if trackReads { reads.fingerprints.append(KeyHash.hash(key)) }
        guard let found = try key.withUnsafeBytes({ try db.lookup($0, at: readTs) }) else { return nil }
        if found.isDeleted || (found.expiresAt != 0 && found.expiresAt <= unixNow()) { return nil }
        return Item(key: key, version: found.version, meta: found.meta, userMeta: found.userMeta,
                    expiresAt: found.expiresAt, raw: found.value, db: db)
    }

    // MARK: Writes

    /// Sets `key` to `value` (visible to this transaction's reads at once, to others
    /// after commit).
    public func set(_ key: [UInt8], _ value: [UInt8]) throws {
        try set(Entry(key: key, value: value))
    }

    /// Writes `entry` with its user meta, expiry and discard-earlier-versions flag.
    /// Throws `.txnTooBig` (leaving the transaction as it was) when the transaction
    /// would exceed `DB.maxTransactionBytes` or `DB.maxTransactionCount`.
    public func set(_ entry: Entry) throws {
        try addWrite(PendingWrite(entry: entry, isDelete: false, arenaBytes: 0))
    }

    /// Deletes `key` (writes a tombstone at commit).
    public func delete(_ key: [UInt8]) throws {
        try addWrite(PendingWrite(entry: Entry(key: key, value: []), isDelete: true, arenaBytes: 0))
    }

    private func addWrite(_ write: PendingWrite) throws {
        try checkUsable()
        guard isUpdate else { throw SettError(.readOnly, "writes need an update transaction (this one is read-only)") }
        var w = write
        try db.validateWrite(key: w.entry.key, valueCount: w.entry.value.count)
        w.arenaBytes = db.arenaBytes(keyCount: w.entry.key.count, valueCount: w.entry.value.count, isDelete: w.isDelete)
        let previous = pending[w.entry.key]?.arenaBytes
        let newBytes = pendingArenaBytes - (previous ?? 0) + w.arenaBytes
        let newCount = pending.count + (previous == nil ? 1 : 0)
        if newBytes > db.maxTxnBytes || newCount > db.maxTxnCount {
            throw SettError(.txnTooBig, "transaction would take \(newBytes) bytes of memtable in \(newCount) entries; "
                + "the limits are \(db.maxTxnBytes) bytes (15% of memTableSize) and \(db.maxTxnCount) entries")
        }
        pendingArenaBytes = newBytes
        pending[w.entry.key] = w
    }

    /// Pending writes sorted by key (for iterators and commit).
    func sortedPending() -> [PendingWrite] {
        pending.values.sorted { compareBytes($0.entry.key, $1.entry.key) < 0 }
    }
}

extension DB {
    /// The most memtable bytes one transaction may take: 15% of `Options.memTableSize`
    /// (each entry counts its key, about 20 bytes of metadata, the skiplist node
    /// overhead, and its value if the value is below `valueThreshold`, else a 12-byte
    /// pointer). Larger writes: use a `WriteBatch`, which splits them.
    public var maxTransactionBytes: Int { maxTxnBytes }
    /// The most entries one transaction may hold.
    public var maxTransactionCount: Int { maxTxnCount }
}
