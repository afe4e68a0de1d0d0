/// What one `runValueLogGC` call did.
public struct ValueLogGCResult: Sendable, Equatable {
    /// The value-log file rewritten and removed.
    public var fileId: UInt32
    /// Its size in bytes.
    public var fileBytes: Int
    /// Entries still live, moved to the active value-log file (at their own versions).
    public var movedEntries: Int
    public var movedBytes: Int
    /// Entries no reader can see any more, dropped with the file.
    public var droppedEntries: Int
}

extension DB {
    /// Value-log garbage collection (Badger's `RunValueLogGC`): picks a value-log file
    /// whose stale share is at least `discardRatio` (from the discard statistics that
    /// compaction keeps, or from a sample), moves its live values to the active file and
    /// removes it. Collects at most one file per call; returns nil when no file qualified.
    /// Call it periodically (a few times after heavy overwrites or deletes) from any thread.
    ///
    /// A value is live when the tree's newest version of its key is exactly that entry.
    /// A file is left alone while it holds an older version that a reader at the discard
    /// timestamp may still see (an open transaction, or `setDiscardTs` in managed mode),
    /// while the commit feed may still read it (retained history, or the live WALs), and
    /// while it is the active file. Readers holding a pointer into a removed file find the
    /// moved value by version. With `numVersionsToKeep` > 1, files holding kept older
    /// versions wait until compaction drops them.
    ///
    /// Throws `.rejected` while another GC runs, `.readOnly` and `.closed` as writes do.
    @discardableResult
    public func runValueLogGC(discardRatio: Double = 0.5) throws -> ValueLogGCResult? {
        try checkWritable()
        guard discardRatio > 0 && discardRatio < 1 else {
            throw SettError.invalid("discardRatio must be in (0, 1), got \(discardRatio)")
        }
        guard valueLogGCActive.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { throw SettError(.rejected, "another value-log GC is running") }
        defer { valueLogGCActive.store(false, ordering: .releasing) }

        for fid in try valueLogGCCandidates().prefix(3) {
            let size = valueLog.size(of: fid)
            guard size > ValueLogFormat.headerSize else { continue }
            var ratio = Double(valueLog.discardBytes(fid: fid)) / Double(size)
            if ratio < discardRatio { ratio = try sampledDiscardRatio(fid: fid) }
            if ratio < discardRatio { continue }
            if let result = try collect(fid: fid, discardRatio: discardRatio) { return result }
        }
        return nil
    }

    /// Starts the background GC thread (`Options.valueLogGCInterval`).
    func startValueLogGC() {
        valueLogGCThread = WorkerThread(name: "sett-vlog-gc") { [self] in
            let interval = options.valueLogGCInterval
            while true {
                let stop: Bool = valueLogGCMonitor.withLock {
                    if !isClosed.load(ordering: .acquiring) { valueLogGCMonitor.wait(seconds: interval) }
                    return isClosed.load(ordering: .acquiring)
                }
                if stop { return }
                var removed = 0
                do {
                    while removed < 16, try runValueLogGC(discardRatio: options.valueLogGCDiscardRatio) != nil {
                        removed += 1
                    }
                } catch let e as SettError where e.code == .conflict || e.code == .rejected || e.code == .closed {
                    // Kept for the next round (a reader appeared), another GC runs, or closing.
                } catch {
                    logger.warning("background value-log GC failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// Wakes the background GC thread (the database is closing) and waits for it.
    func stopValueLogGC() {
        guard let t = valueLogGCThread else { return }
        valueLogGCMonitor.withLock { valueLogGCMonitor.broadcast() }
        t.join()
        valueLogGCThread = nil  // the thread's closure holds the DB: break the cycle
    }

    /// Files GC may take, most discarded bytes first: not the active file, and below the
    /// oldest file any commit-feed segment (retained `.log`, or live `.wal`) points into.
    private func valueLogGCCandidates() throws -> [UInt32] {
        guard let active = valueLog.activeFid else { return [] }
        let feedFloor = try oldestValueLogFileInFeed() ?? active
        let limit = min(active, feedFloor)
        return valueLog.fileIds.filter { $0 < limit }.sorted {
            let a = valueLog.discardBytes(fid: $0), b = valueLog.discardBytes(fid: $1)
            return a != b ? a > b : $0 < $1
        }
    }

    /// The value-log file of the first value pointer in the oldest feed segment that has
    /// one: value-log files are appended in WAL order, so no segment points below it.
    private func oldestValueLogFileInFeed() throws -> UInt32? {
        let ids = try feed.segmentIds()
        let present = Set(ids)
        firstValueLogFidOfSegment.withLock { cache in cache = cache.filter { present.contains($0.key) } }
        for id in ids {
            if let known = firstValueLogFidOfSegment.withLock({ $0[id] }) {
                if known == UInt32.max { continue }
                return known
            }
            guard let r = try WALSegmentReader.open(fs: feed.fs, dir: feed.dir, id: id) else { continue }
            defer { r.close() }
            let limit = try r.size()
            var found: UInt32?
            scan: while case .record(let view) = try r.next(limit: limit) {
                view.forEach { _, _, value in
                    if found == nil, value.meta & EntryMeta.valuePointer != 0,
                       let p = try? ValuePointer.decode(value.bytes) {
                        found = p.fid
                    }
                }
                if found != nil { break scan }
            }
            // A segment's first pointer never changes once written (WALs are append-only),
            // and a retained segment never changes at all: remember what it holds.
            if found != nil || r.path.hasSuffix(".log") {
                firstValueLogFidOfSegment.withLock { $0[id] = found ?? UInt32.max }
            }
            if let found { return found }
        }
        return nil
    }

    /// What a value-log entry is to the tree now.
    private enum EntryFate {
        /// The newest version of its key: must move.
        case live
        /// Nothing at or above the discard timestamp can read it.
        case garbage
        /// An older version a reader at the discard timestamp may still read.
        case pinned
    }

    private func fate(of e: ValueLogEntryView, now: UInt64) throws -> EntryFate {
        guard let newest = try lookup(e.key, at: UInt64.max - 1) else { return .garbage }
        if newest.version < e.version { return .garbage }
        if newest.version == e.version {
            guard points(newest, at: e.pointer) else { return .garbage }
            return e.expiresAt != 0 && e.expiresAt <= now ? .garbage : .live
        }
        guard let exact = try lookup(e.key, at: e.version), exact.version == e.version, points(exact, at: e.pointer)
        else { return .garbage }
        if options.numVersionsToKeep > 1 { return .pinned }
        let floor = discardTs
        if floor >= e.version, let seen = try lookup(e.key, at: floor), seen.version > e.version { return .garbage }
        return .pinned
    }

    private func points(_ r: LookupResult, at p: ValuePointer) -> Bool {
        guard r.isPointer, let q = try? r.value.withUnsafeBytes({ try ValuePointer.decode($0) }) else { return false }
        return q.fid == p.fid && q.offset == p.offset
    }

    /// The stale share of the first tenth of file `fid` (at most 10,000 entries), by bytes.
    private func sampledDiscardRatio(fid: UInt32) throws -> Double {
        let size = valueLog.size(of: fid)
        let now = unixNow()
        var total = 0, stale = 0, entries = 0
        try valueLog.iterate(fid: fid, limit: ValueLogFormat.headerSize + max(size / 10, 1)) { e in
            let bytes = Int(e.pointer.len)
            total += bytes
            if try fate(of: e, now: now) == .garbage { stale += bytes }
            entries += 1
            return entries < 10_000
        }
        return total == 0 ? 0 : Double(stale) / Double(total)
    }

    /// Checks the whole file, then moves its live entries and removes it. Nil (nothing
    /// removed) when it turns out less stale than `discardRatio`, or pinned by a reader.
    private func collect(fid: UInt32, discardRatio: Double) throws -> ValueLogGCResult? {
        let size = valueLog.size(of: fid)
        let now = unixNow()
        var liveBytes = 0, garbage = 0
        var pinned = false
        try valueLog.iterate(fid: fid) { e in
            switch try fate(of: e, now: now) {
            case .live: liveBytes += Int(e.pointer.len)
            case .garbage: garbage += 1
            case .pinned: pinned = true
            }
            return !pinned
        }
        if pinned {
            logger.info("value-log GC: file \(fid) still holds versions a reader may see; left for later")
            return nil
        }
        if Double(size - liveBytes) / Double(size) < discardRatio { return nil }

        var result = ValueLogGCResult(fileId: fid, fileBytes: size, movedEntries: 0, movedBytes: 0,
                                      droppedEntries: garbage)
        var chunk = PendingRewrite()
        try valueLog.iterate(fid: fid) { e in
            guard try fate(of: e, now: now) == .live else { return true }
            chunk.add(e, arenaBytes: arenaEstimate(keyCount: e.key.count, valueCount: e.value.count, meta: e.meta))
            if chunk.batch.count >= 1000 || chunk.batch.byteSize >= 4 << 20 || chunk.arenaBytes >= maxBatchArenaBytes / 2 {
                try rewrite(&chunk, into: &result)
            }
            return true
        }
        try rewrite(&chunk, into: &result)
        if !options.syncWrites { try sync() }
        try valueLog.removeFile(fid: fid)
        logger.info("value-log GC: removed file \(fid)",
                    metadata: ["bytes": "\(size)", "moved": "\(result.movedEntries)", "dropped": "\(result.droppedEntries)"])
        return result
    }

    /// Live entries read from the file being collected, waiting to be rewritten.
    private struct PendingRewrite {
        var batch = EntryBatch()
        var pointers: [ValuePointer] = []
        /// The memtable room the batch needs (`arenaEstimate`).
        var arenaBytes = 0

        mutating func add(_ e: ValueLogEntryView, arenaBytes: Int) {
            self.arenaBytes += arenaBytes
            batch.add(e.key, e.value, version: e.version, meta: e.meta & EntryMeta.discardEarlierVersions,
                      userMeta: e.userMeta, expiresAt: e.expiresAt)
            pointers.append(e.pointer)
        }
    }

    /// Writes the entries of `chunk` that are still live at their own versions, through
    /// the commit pipeline, and empties `chunk`. The check and the enqueue happen under
    /// the oracle lock with no write in flight, so no commit can slip between them: a
    /// moved version is always the newest of its key when it lands (never above a newer
    /// tombstone that compaction could later drop). Throws `.conflict` when an entry
    /// became an older version that a reader may still see (the file is then kept).
    private func rewrite(_ chunk: inout PendingRewrite, into result: inout ValueLogGCResult) throws {
        guard !chunk.batch.isEmpty else { return }
        let pending = chunk
        chunk = PendingRewrite()
        let now = unixNow()
        let request: WriteRequest? = try oracle.withLock {
            waitForWritesIdle()
            var batch = EntryBatch(capacity: pending.batch.count)
            batch.isValueLogRewrite = true
            var index = 0
            var failure: SettError?
            pending.batch.forEach { slot, key, value in
                let p = pending.pointers[index]
                index += 1
                guard failure == nil else { return }
                let view = ValueLogEntryView(key: key, version: slot.version, meta: slot.meta, userMeta: slot.userMeta,
                                             expiresAt: slot.expiresAt, value: value, pointer: p)
                do {
                    switch try fate(of: view, now: now) {
                    case .live:
                        batch.add(key, value, version: slot.version, meta: slot.meta, userMeta: slot.userMeta,
                                  expiresAt: slot.expiresAt)
                    case .garbage: break
                    case .pinned:
                        failure = SettError(.conflict, "value-log GC: a version in file \(p.fid) became visible to a "
                            + "reader while it was being collected; the file is kept")
                    }
                } catch {
                    failure = error as? SettError ?? SettError(.io, "\(error)")
                }
            }
            if let failure { throw failure }
            if batch.isEmpty { return nil }
            try checkWritesAllowed()
            let estimate = try checkedArenaEstimate(batch)
            result.movedEntries += batch.count
            result.movedBytes += batch.byteSize
            return enqueueWrite(batch, estimate: estimate)
        }
        guard let request else { return }
        defer { committersInFlight.subtract(1, ordering: .relaxed) }
        try awaitWrite(request)
    }

    /// The value `ptr` names. When its file is gone (moved by value-log GC after the
    /// caller read the pointer from the tree), the tree is asked again for the same
    /// version, which GC rewrote with its new location. A version GC dropped as garbage
    /// (expired, or hidden by a newer version at or below the discard timestamp) throws
    /// `.notFound`; a missing file under any other version is `.corruption`.
    func readValue(_ ptr: ValuePointer, key: UnsafeRawBufferPointer, version: UInt64) throws -> [UInt8] {
        var p = ptr
        for _ in 0 ..< 3 {
            do {
                return try valueLog.read(p)
            } catch let e as SettError where e.code == .corruption && !valueLog.holds(p.fid) {
                if let again = try lookup(key, at: version), again.version == version {
                    if again.expiresAt != 0 && again.expiresAt <= unixNow() {
                        throw SettError(.notFound, "version \(version) of this key expired and its value was "
                            + "garbage-collected", file: e.file, offset: e.offset)
                    }
                    if !again.isPointer { return again.value }
                    let moved = try again.value.withUnsafeBytes { try ValuePointer.decode($0) }
                    if moved != p {
                        p = moved
                        continue
                    }
                }
                let floor = discardTs
                if floor > version, let hiding = try lookup(key, at: floor), hiding.version > version {
                    throw SettError(.notFound, "version \(version) of this key was garbage-collected (version "
                        + "\(hiding.version), at or below the discard timestamp \(floor), hides it)",
                        file: e.file, offset: e.offset)
                }
                throw e
            }
        }
        return try valueLog.read(p)
    }

    func readValue(_ ptr: ValuePointer, key: [UInt8], version: UInt64) throws -> [UInt8] {
        try key.withUnsafeBytes { try readValue(ptr, key: $0, version: version) }
    }
}
