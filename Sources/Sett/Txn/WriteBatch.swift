/// Bulk writes without a transaction's size limit: entries are gathered into chunks
/// that each fit one transaction (`DB.maxTransactionBytes` / `maxTransactionCount`);
/// a full chunk is committed asynchronously while the next one fills. At most
/// `maxInFlight` chunks are being committed at once, so memory stays bounded; `set`
/// waits when that many are in flight.
///
/// Each chunk is atomic and gets its own commit timestamp (in managed mode every chunk
/// is committed at the batch's timestamp); the batch as a whole is not atomic. No
/// conflict detection: the last writer wins. Call `flush()` at the end: it commits the
/// last chunk, waits for all of them and reports the first error. After an error every
/// call throws it. Not thread-safe.
///
/// ```swift
/// let wb = try db.newWriteBatch()
/// for (k, v) in pairs { try wb.set(k, v) }
/// try wb.flush()
/// ```
public final class WriteBatch {
    let db: DB
    let commitTs: UInt64?
    /// Chunks being committed at most at once.
    public let maxInFlight = 3
    private var chunk = EntryBatch()
    private var chunkBytes = 0
    private let monitor = Monitor()
    private var inFlight = 0
    private var firstError: (any Error)?
    private var flushed = false

    init(db: DB, commitTs: UInt64?) {
        self.db = db
        self.commitTs = commitTs
    }

    /// Adds a put of `value` under `key`.
    public func set(_ key: [UInt8], _ value: [UInt8]) throws {
        try set(Entry(key: key, value: value))
    }

    /// Adds `entry` with its attributes.
    public func set(_ entry: Entry) throws {
        try add(entry, isDelete: false)
    }

    /// Adds a deletion of `key`.
    public func delete(_ key: [UInt8]) throws {
        try add(Entry(key: key, value: []), isDelete: true)
    }

    private func add(_ e: Entry, isDelete: Bool) throws {
        try checkUsable()
        try db.validateWrite(key: e.key, valueCount: e.value.count)
        let bytes = db.arenaBytes(keyCount: e.key.count, valueCount: e.value.count, isDelete: isDelete)
        // Large values travel in the chunk too: bound its raw bytes as well.
        if !chunk.isEmpty && (chunkBytes + bytes > db.maxTxnBytes || chunk.count + 1 > db.maxTxnCount
                              || chunk.byteSize + e.key.count + e.value.count > 4 * db.maxTxnBytes) {
            try commitChunk()
        }
        let meta = (isDelete ? EntryMeta.delete : 0) | (e.discardEarlierVersions ? EntryMeta.discardEarlierVersions : 0)
        e.key.withUnsafeBytes { k in
            e.value.withUnsafeBytes { v in
                chunk.add(k, v, version: 1, meta: meta, userMeta: e.userMeta, expiresAt: e.expiresAt)
            }
        }
        chunkBytes += bytes
    }

    /// Commits what is gathered, waits for every chunk and throws the first error met.
    /// The batch cannot be used afterwards.
    public func flush() throws {
        if flushed { throw SettError.invalid("write batch was already flushed") }
        if firstError == nil && !chunk.isEmpty {
            do { try commitChunk() } catch { record(error) }
        }
        flushed = true
        let e: (any Error)? = monitor.withLock {
            while inFlight > 0 { monitor.wait() }
            return firstError
        }
        if let e { throw e }
    }

    /// Drops what is gathered and not yet committed; waits for chunks in flight.
    public func cancel() {
        chunk.removeAll()
        chunkBytes = 0
        flushed = true
        monitor.withLock { while inFlight > 0 { monitor.wait() } }
    }

    private func checkUsable() throws {
        if flushed { throw SettError.invalid("write batch was already flushed or cancelled") }
        if let e = monitor.withLock({ firstError }) { throw e }
        try db.checkOpen()
    }

    private func record(_ error: any Error) {
        monitor.withLock { if firstError == nil { firstError = error } }
    }

    private func commitChunk() throws {
        var batch = chunk
        chunk = EntryBatch(capacity: batch.count)
        chunkBytes = 0
        monitor.withLock {
            while inFlight >= maxInFlight { monitor.wait() }
            inFlight += 1
        }
        let estimate: Int
        do { estimate = try db.checkedArenaEstimate(batch) } catch { finishChunk(error); throw error }
        let managed = commitTs != nil
        var inline: (@Sendable () -> Void)?
        do {
            _ = try db.oracle.commit(readTs: 0, reads: ReadSet(), writes: nil, commitTs: commitTs,
                                     discardTs: db.discardTs) { [db] ts in
                batch.setVersion(ts)
                let request = db.enqueueWrite(batch, estimate: estimate, oracleTs: managed ? 0 : ts)
                let job: @Sendable () -> Void = { [self] in
                    var failure: (any Error)?
                    do { try db.completeCommit(request, ts: ts, managed: managed) } catch { failure = error }
                    finishChunk(failure)
                }
                if !db.committers.submit(job) { inline = job }
                return request
            }
        } catch {
            finishChunk(error)
            throw error
        }
        inline?()
    }

    private func finishChunk(_ error: (any Error)?) {
        monitor.withLock {
            if let error, firstError == nil { firstError = error }
            inFlight -= 1
            monitor.broadcast()
        }
    }
}

extension WriteBatch: @unchecked Sendable {}

extension DB {
    /// A write batch whose chunks get oracle-assigned timestamps. Not in managed mode.
    public func newWriteBatch() throws -> WriteBatch {
        try checkWritable()
        if isManaged { throw SettError.invalid("in managed mode, use newWriteBatch(at:)") }
        return WriteBatch(db: self, commitTs: nil)
    }

    /// Managed mode: a write batch committing every entry at `commitTs`.
    public func newWriteBatch(at commitTs: UInt64) throws -> WriteBatch {
        try checkWritable()
        if !isManaged { throw SettError.invalid("newWriteBatch(at:) needs managed mode") }
        guard commitTs > 0 && commitTs < UInt64.max else { throw SettError.invalid("commit timestamp must be in 1..<UInt64.max") }
        return WriteBatch(db: self, commitTs: commitTs)
    }
}
