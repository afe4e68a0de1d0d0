import Logging
import Synchronization

/// The commit feed's bookkeeping: which WAL segments hold feed history, where the live
/// tail ends, and which timestamps retention has already given up.
///
/// Segments are the WAL files: live `NNNNNN.wal` (the active memtable's and those of
/// memtables awaiting flush) and retained `NNNNNN.log` (a flushed memtable's WAL, renamed
/// instead of deleted). Ids are WAL ids, so id order is commit order.
///
/// Thread safety: all methods may be called from any thread. `publish` is called by the
/// group-commit leader after each WAL append; it only takes a short lock and broadcasts,
/// so readers never hold up writers. `enforceRetention` runs on the flush thread.
///
/// Invariants: the published `(walId, end)` only moves forward; once a newer id has been
/// published, older segments are complete (never appended to again). `floor` (the
/// highest commit timestamp in any deleted segment) is persisted in `FEED` before those
/// segments are removed, and never decreases.
final class FeedLog: @unchecked Sendable {
    let fs: any FileSystem
    let dir: String
    let readOnly: Bool
    let retentionBytes: Int
    let retentionSeconds: UInt64
    let logger: Logger

    let monitor = Monitor()
    // Guarded by `monitor`.
    private var publishedId: UInt64
    private var publishedEnd: Int64
    private var newestTs: UInt64
    private var closed = false
    private let floorValue: Atomic<UInt64>
    /// Serialises retention passes.
    private let retentionLock = Mutex(())
    /// Newest timestamp of segments retired by this process (their memtable's highest
    /// version), or read once by retention, so retention need not read a segment again.
    private let retiredNewest = Mutex<[UInt64: UInt64]>([:])
    /// Retention slots: name -> position (the last commit timestamp the consumer holds).
    /// `slotsDirty`: advanced in memory since `SLOTS` was written. Guarded by `slotLock`.
    private var slots: [String: UInt64]
    private var slotsDirty = false
    private let slotLock = Mutex(())
    /// `Options.feedSlotMaxRetainedBytes` (0 = no cap).
    let slotCapBytes: Int

    private init(fs: any FileSystem, options: Options, floor: UInt64, activeId: UInt64, newestTs: UInt64,
                 slots: [String: UInt64]) {
        self.fs = fs
        self.slots = slots
        self.slotCapBytes = options.feedSlotMaxRetainedBytes
        self.dir = options.dir
        self.readOnly = options.readOnly
        self.retentionBytes = options.feedRetentionBytes
        self.retentionSeconds = options.feedRetentionSeconds
        self.logger = options.logger
        self.floorValue = Atomic(floor)
        self.publishedId = activeId
        self.publishedEnd = Int64(WALRecord.headerSize)
        self.newestTs = newestTs
    }

    /// Loads `FEED` (floor 0 when absent). `activeId` is the id of the WAL the writer will
    /// append to next (every lower segment is complete); `newestTs` the newest commit
    /// timestamp already on disk.
    static func open(fs: any FileSystem, options: Options, activeId: UInt64, newestTs: UInt64) throws -> FeedLog {
        let floor = try loadFloor(fs: fs, dir: options.dir)
        let slots = try loadSlots(fs: fs, dir: options.dir)
        return FeedLog(fs: fs, options: options, floor: floor, activeId: activeId, newestTs: newestTs, slots: slots)
    }

    /// The slots stored in `dir/SLOTS` (none when absent).
    static func loadSlots(fs: any FileSystem, dir: String) throws -> [String: UInt64] {
        let path = joinPath(dir, FeedSlotsFormat.fileName)
        guard fs.exists(path) else { return [:] }
        let f = try fs.open(path, .readOnly)
        defer { f.close() }
        let size = try f.size()
        guard size <= Int64(FeedSlotsFormat.maxFileBytes) else {
            throw SettError.corruption("slots file too large (\(size) bytes)", file: path, offset: 0)
        }
        return try FeedSlotsFormat.decode(try f.readExactly(Int(size), at: 0), path: path)
    }

    /// The floor stored in `dir/FEED` (0 when absent).
    static func loadFloor(fs: any FileSystem, dir: String) throws -> UInt64 {
        let path = joinPath(dir, FeedStateFormat.fileName)
        guard fs.exists(path) else { return 0 }
        let f = try fs.open(path, .readOnly)
        defer { f.close() }
        let size = try f.size()
        guard size <= 4096 else { throw SettError.corruption("feed state file too large", file: path, offset: 0) }
        return try FeedStateFormat.decode(try f.readExactly(Int(size), at: 0), path: path)
    }

    /// The highest commit timestamp in the newest retained (`.log`) segment that holds a
    /// record (0 if none). Open uses it, with the floor, as a lower bound of the newest
    /// commit: compaction may drop every entry of the newest versions (a tombstone at the
    /// bottom level below the discard timestamp), so tables alone can understate it, and
    /// the oracle must never hand out a timestamp twice. Commit order is timestamp order
    /// for oracle commits, so only the newest non-empty segment is read. A damaged record
    /// ends the scan of that segment (logged).
    static func newestRetainedTimestamp(fs: any FileSystem, dir: String, retainedIds: [UInt64],
                                        logger: Logger) throws -> UInt64 {
        for id in retainedIds.sorted(by: >) {
            guard let r = try WALSegmentReader.open(fs: fs, dir: dir, id: id) else { continue }
            defer { r.close() }
            var newest: UInt64 = 0
            do {
                try r.scanNewestCommit(limit: try r.size(), into: &newest)
            } catch {
                logger.warning("feed segment unreadable while finding the newest commit timestamp",
                               metadata: ["file": "\(r.path)", "error": "\(error)"])
            }
            if newest > 0 { return newest }
        }
        return 0
    }

    /// "000007.log": a retained feed segment (a flushed memtable's WAL).
    static func logFileName(_ id: UInt64) -> String {
        let digits = String(id)
        return String(repeating: "0", count: max(0, 6 - digits.count)) + digits + ".log"
    }

    /// Parses "NNNNNN.log" / "NNNNNN.wal"; nil for other names.
    static func segmentId(_ name: String) -> (id: UInt64, retained: Bool)? {
        guard name.count > 4 else { return nil }
        let ext = name.suffix(4)
        guard ext == ".log" || ext == ".wal", let id = UInt64(name.dropLast(4)) else { return nil }
        return (id, ext == ".log")
    }

    /// Ids of every feed segment in the directory, ascending.
    func segmentIds() throws -> [UInt64] {
        Array(Set(try fs.list(dir).compactMap { Self.segmentId($0)?.id })).sorted()
    }

    // MARK: Live tail

    /// Called by the group-commit leader after appending records to WAL `walId`, whose
    /// valid bytes now end at `end`; `ts` is the highest commit timestamp appended.
    func publish(walId: UInt64, end: Int64, ts: UInt64) {
        monitor.lock()
        if walId > publishedId || (walId == publishedId && end > publishedEnd) {
            publishedId = walId
            publishedEnd = end
        }
        if ts > newestTs { newestTs = ts }
        monitor.broadcast()
        monitor.unlock()
    }

    /// The published tail: segments below `id` are complete; segment `id` is valid up to `end`.
    func tail() -> (id: UInt64, end: Int64, closed: Bool) {
        monitor.withLock { (publishedId, publishedEnd, closed) }
    }

    /// Waits until the tail moves past `(id, end)`, the log closes, or `deadline`
    /// (monotonic nanoseconds) passes. Returns false on timeout.
    func waitForTail(after id: UInt64, _ end: Int64, deadline: UInt64) -> Bool {
        monitor.withLock {
            while !closed && publishedId == id && publishedEnd == end {
                let now = monotonicNanos()
                if now >= deadline { return false }
                monitor.wait(seconds: min(Double(deadline - now) / 1e9, 0.25))
            }
            return true
        }
    }

    /// Sleeps until something is published, the log closes, or `deadline` passes.
    func waitForAnything(deadline: UInt64) {
        monitor.withLock {
            let now = monotonicNanos()
            if !closed && now < deadline { monitor.wait(seconds: min(Double(deadline - now) / 1e9, 0.25)) }
        }
    }

    var newestTimestamp: UInt64 { monitor.withLock { newestTs } }
    var isClosed: Bool { monitor.withLock { closed } }

    /// Wakes every waiting reader; they end with `.closed`. Writes slot positions
    /// advanced since the last write of `SLOTS` (logged if that fails: the slots then
    /// restart from their older positions, which retains more, never less).
    func close() {
        monitor.withLock {
            closed = true
            monitor.broadcast()
        }
        if !readOnly {
            do { try slotLock.withLock { _ in try persistSlotsLocked(onlyIfDirty: true) } } catch {
                logger.warning("feed slots not saved at close", metadata: ["error": "\(error)"])
            }
        }
    }

    // MARK: Slots

    var slotPositions: [String: UInt64] { slotLock.withLock { _ in slots } }

    /// Adds or replaces slot `name` at `position` and writes `SLOTS`. Throws
    /// `.notRetained` when history after `position` is already gone.
    func createSlot(_ name: String, position: UInt64) throws {
        try slotLock.withLock { _ in
            guard position >= floor else {
                throw SettError(.notRetained, "slot position \(position) is below the retained history "
                    + "(kept from \(floor + 1))")
            }
            let saved = slots
            slots[name] = position
            do { try persistSlotsLocked(onlyIfDirty: false) } catch {
                slots = saved
                throw error
            }
        }
    }

    /// Moves slot `name` forward to `position` (a lower position is ignored). In memory;
    /// written with the next retention pass or close. Throws `.notFound` for no such slot.
    func advanceSlot(_ name: String, to position: UInt64) throws {
        try slotLock.withLock { _ in
            guard let cur = slots[name] else { throw SettError(.notFound, "no feed slot \(name)") }
            if position > cur {
                slots[name] = position
                slotsDirty = true
            }
        }
    }

    /// Removes slot `name` and writes `SLOTS`. Throws `.notFound` for no such slot.
    func dropSlot(_ name: String) throws {
        try slotLock.withLock { _ in
            guard let saved = slots.removeValue(forKey: name) else { throw SettError(.notFound, "no feed slot \(name)") }
            do { try persistSlotsLocked(onlyIfDirty: false) } catch {
                slots[name] = saved
                throw error
            }
        }
    }

    /// Slot lock held.
    private func persistSlotsLocked(onlyIfDirty: Bool) throws {
        if onlyIfDirty && !slotsDirty { return }
        try writeAtomically(FeedSlotsFormat.fileName, FeedSlotsFormat.encode(slots))
        slotsDirty = false
    }

    // MARK: Retention

    /// Highest commit timestamp in a deleted segment (0 = nothing deleted yet).
    var floor: UInt64 { floorValue.load(ordering: .acquiring) }

    /// The smallest `from` a new reader accepts: 0 while no history was deleted,
    /// otherwise `floor + 1`.
    var oldestTimestamp: UInt64 {
        let f = floor
        return f == 0 ? 0 : f + 1
    }

    /// Records the newest commit timestamp of segment `id`, retired by the flush of its
    /// memtable (whose highest version it is), for the floor when retention removes it.
    func noteRetired(id: UInt64, newestTs: UInt64) {
        retiredNewest.withLock { $0[id] = newestTs }
    }

    /// Deletes the oldest retained (`.log`) segments while their total size exceeds
    /// `feedRetentionBytes`, and those whose last write is older than
    /// `feedRetentionSeconds` (when nonzero), but none holding a commit after a slot's
    /// position, unless the retained bytes exceed `feedSlotMaxRetainedBytes` (the slots
    /// behind are then lost). Writes advanced slots and the new floor first.
    func enforceRetention(now: UInt64 = unixNow()) throws {
        guard !readOnly else { return }
        try retentionLock.withLock { _ in
            var logs: [(id: UInt64, path: String, size: Int64, mtime: UInt64)] = []
            for name in try fs.list(dir) {
                guard let s = Self.segmentId(name), s.retained else { continue }
                let path = joinPath(dir, name)
                let f = try fs.open(path, .readOnly)
                let size = try f.size()
                f.close()
                logs.append((s.id, path, size, try fs.modificationTime(path)))
            }
            logs.sort { $0.id < $1.id }
            var total = logs.reduce(Int64(0)) { $0 + $1.size }
            let hold = slotLock.withLock { _ in slots.values.min() }
            var doomed: [(id: UInt64, path: String)] = []
            var newFloor = floor
            for s in logs {
                let tooBig = total > Int64(retentionBytes)
                let tooOld = retentionSeconds > 0 && now > s.mtime && now - s.mtime > retentionSeconds
                guard tooBig || tooOld else { break }
                let newest = try newestCommit(ofSegment: s.id)
                if let hold, newest > hold, !(slotCapBytes > 0 && total > Int64(slotCapBytes)) { break }
                doomed.append((s.id, s.path))
                newFloor = max(newFloor, newest)
                total -= s.size
            }
            guard !doomed.isEmpty else { return }
            try slotLock.withLock { _ in try persistSlotsLocked(onlyIfDirty: true) }
            if newFloor > floor { try persistFloor(newFloor) }
            for s in doomed {
                try fs.remove(s.path)
                retiredNewest.withLock { _ = $0.removeValue(forKey: s.id) }
            }
            try fs.syncDirectory(dir)
            if let hold, hold < newFloor {
                logger.warning("feed slots lost history (feedSlotMaxRetainedBytes reached)",
                               metadata: ["floor": "\(newFloor)", "oldestSlot": "\(hold)"])
            }
            logger.debug("feed retention removed segments",
                         metadata: ["segments": "\(doomed.map(\.id))", "floor": "\(newFloor)"])
        }
    }

    /// The newest commit timestamp in retained segment `id` (0 if it holds none): known
    /// from its flush, or read once.
    private func newestCommit(ofSegment id: UInt64) throws -> UInt64 {
        if let known = retiredNewest.withLock({ $0[id] }) { return known }
        var newest: UInt64 = 0
        if let r = try WALSegmentReader.open(fs: fs, dir: dir, id: id) {
            defer { r.close() }
            try r.scanNewestCommit(limit: try r.size(), into: &newest)
        }
        retiredNewest.withLock { $0[id] = newest }
        return newest
    }

    private func persistFloor(_ value: UInt64) throws {
        try writeAtomically(FeedStateFormat.fileName, FeedStateFormat.encode(floor: value))
        floorValue.store(value, ordering: .releasing)
    }

    /// Replaces `dir/name` with `bytes`: `name.tmp`, fsync, rename, fsync the directory.
    private func writeAtomically(_ name: String, _ bytes: [UInt8]) throws {
        let tmp = joinPath(dir, name + ".tmp")
        if fs.exists(tmp) { try fs.remove(tmp) }
        let f = try fs.open(tmp, .createNew)
        do {
            try f.write(bytes, at: 0)
            try f.sync()
            f.close()
        } catch {
            f.close()
            throw error
        }
        try fs.rename(tmp, joinPath(dir, name))
        try fs.syncDirectory(dir)
    }
}
