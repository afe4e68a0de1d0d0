/// One entry of a committed batch, as the commit feed delivers it: values are always
/// the real bytes (values kept in the value log are read back).
public struct FeedEntry: Sendable, Equatable {
    public let key: [UInt8]
    /// Empty for a deletion.
    public let value: [UInt8]
    public let version: UInt64
    public let userMeta: UInt8
    /// Unix seconds, 0 = never.
    public let expiresAt: UInt64
    public let isDelete: Bool
    public let discardEarlierVersions: Bool
}

/// One committed batch (one `DB.write` or one transaction commit), in commit order.
public struct CommittedBatch: Sendable, Equatable {
    /// The commit timestamp: the highest version among the batch's entries (with
    /// transactions every entry carries it).
    public let commitTs: UInt64
    /// The entries in the order they were written (only those matching the reader's
    /// prefixes, if it has any).
    public let entries: [FeedEntry]

    /// The batch as an `EntryBatch` at the same versions, ready for `DB.write` on a
    /// follower.
    public func makeEntryBatch() -> EntryBatch {
        var b = EntryBatch(capacity: entries.count)
        for e in entries {
            if e.isDelete {
                b.delete(e.key, version: e.version)
            } else {
                b.set(e.key, e.value, version: e.version, userMeta: e.userMeta, expiresAt: e.expiresAt,
                      discardEarlierVersions: e.discardEarlierVersions)
            }
        }
        return b
    }
}

/// Pull-style access to the commit feed: `next(timeout:)` returns committed batches in
/// commit order, first from retained history on disk, then live as they commit.
///
/// Thread safety: use one reader from one thread at a time; any number of readers may
/// run at once. A reader holds one segment file open and one record in memory; it never
/// blocks writers (it reads files the writer has already published).
///
/// Errors: `.notRetained` when history the reader still needs was removed by retention
/// (it started too early or fell too far behind); `.closed` once the database closes;
/// `.corruption` for a damaged segment.
public final class FeedReader {
    private let db: DB
    private let feed: FeedLog
    private let prefixes: [[UInt8]]
    /// Batches with a commit timestamp below this are skipped.
    public let startTimestamp: UInt64
    /// Highest commit timestamp read so far (delivered or skipped), or start - 1.
    public private(set) var position: UInt64
    /// Segment ids up to this one are done.
    private var doneThrough: UInt64
    private var segment: WALSegmentReader?
    private var segmentSize: Int64?
    private var failed: SettError?

    init(db: DB, from start: UInt64, prefixes: [[UInt8]]) throws {
        self.db = db
        self.feed = db.feed
        self.prefixes = prefixes
        self.startTimestamp = start
        self.position = start == 0 ? 0 : start - 1
        let floor = feed.floor
        if floor > position {
            throw SettError(.notRetained, "start timestamp no longer retained: feed history is kept from "
                + "\(floor + 1), asked for \(start)")
        }
        doneThrough = try Self.firstSegment(feed: feed, start: start) - 1
    }

    /// The newest segment whose first batch is at or below `start` (commit order is
    /// timestamp order, so nothing earlier is needed); the oldest segment otherwise.
    private static func firstSegment(feed: FeedLog, start: UInt64) throws -> UInt64 {
        let ids = try feed.segmentIds()
        guard let oldest = ids.first else { return feed.tail().id }
        if start <= 1 { return oldest }
        let tail = feed.tail()
        for id in ids.reversed() {
            guard let r = try WALSegmentReader.open(fs: feed.fs, dir: feed.dir, id: id) else { continue }
            defer { r.close() }
            let limit = id < tail.id ? try r.size() : (id == tail.id ? tail.end : 0)
            if let first = try r.peekFirstTimestamp(limit: limit), first <= start { return max(id, 1) }
        }
        return max(oldest, 1)
    }

    /// The next committed batch, waiting up to `timeout` seconds for one to commit.
    /// Returns nil on timeout. Batches left empty by the prefix filter are skipped.
    public func next(timeout: Double = 0) throws -> CommittedBatch? {
        if let failed { throw failed }
        do {
            return try nextBatch(deadline: monotonicNanos() + UInt64(max(0, timeout) * 1e9))
        } catch {
            // An error racing with close (e.g. the value log closing under us) is `.closed`.
            let e = db.isClosed.load(ordering: .acquiring) ? SettError(.closed, "database is closed")
                : error as? SettError ?? SettError(.io, "\(error)")
            failed = e
            segment = nil
            throw e
        }
    }

    /// Releases the open segment file.
    public func close() {
        segment = nil
        failed = failed ?? SettError(.closed, "feed reader is closed")
    }

    private func nextBatch(deadline: UInt64) throws -> CommittedBatch? {
        while true {
            let tail = feed.tail()
            if tail.closed || db.isClosed.load(ordering: .acquiring) {
                throw SettError(.closed, "database is closed")
            }
            guard let seg = try currentSegment(tail: tail) else {
                // No newer segment yet.
                if monotonicNanos() >= deadline { return nil }
                feed.waitForAnything(deadline: deadline)
                continue
            }
            let complete = seg.id < tail.id
            let limit: Int64
            if complete {
                if segmentSize == nil { segmentSize = try seg.size() }
                limit = segmentSize!
            } else {
                limit = seg.id == tail.id ? tail.end : Int64(WALRecord.headerSize)
            }
            switch try seg.next(limit: limit) {
            case .record(let view):
                if view.isValueLogRewrite { continue }  // value-log GC, not a commit
                let ts = view.commitTimestamp
                position = max(position, ts)
                if ts < startTimestamp { continue }
                if let batch = try makeBatch(view, ts: ts) { return batch }
            case .end:
                if complete {
                    finishSegment(seg)
                } else {
                    if !feed.waitForTail(after: tail.id, tail.end, deadline: deadline) { return nil }
                }
            case .torn(let reason):
                if complete {
                    // Same rule as WAL replay: a torn tail ends the segment.
                    db.logger.warning("feed: torn tail of segment ignored",
                                      metadata: ["file": "\(seg.path)", "offset": "\(seg.offset)", "reason": "\(reason)"])
                    finishSegment(seg)
                } else {
                    throw SettError.corruption("feed: damaged record below the published end (\(reason))",
                                               file: seg.path, offset: seg.offset)
                }
            }
        }
    }

    private func finishSegment(_ seg: WALSegmentReader) {
        doneThrough = seg.id
        segment = nil
        segmentSize = nil
    }

    /// The open segment, or the next one after `doneThrough` (nil when none exists yet).
    private func currentSegment(tail: (id: UInt64, end: Int64, closed: Bool)) throws -> WALSegmentReader? {
        if let segment { return segment }
        for _ in 0 ..< 3 {
            guard let id = try feed.segmentIds().first(where: { $0 > doneThrough }) else { return nil }
            guard let r = try WALSegmentReader.open(fs: feed.fs, dir: feed.dir, id: id) else { continue }
            // Retention persists its floor before deleting; with the file open, the floor
            // tells whether anything between our position and this segment is gone.
            let floor = feed.floor
            if floor > position {
                throw SettError(.notRetained, "start timestamp no longer retained: the reader fell behind "
                    + "(at \(position), history kept from \(floor + 1))")
            }
            segment = r
            segmentSize = nil
            return r
        }
        return nil
    }

    private func makeBatch(_ view: WALBatchView, ts: UInt64) throws -> CommittedBatch? {
        var entries: [FeedEntry] = []
        entries.reserveCapacity(view.count)
        var failure: (any Error)?
        view.forEach { key, version, value in
            guard failure == nil, matches(key) else { return }
            var bytes: [UInt8]
            if value.meta & EntryMeta.valuePointer != 0 {
                do {
                    bytes = try db.valueLog.read(ValuePointer.decode(value.bytes))
                } catch {
                    failure = error
                    return
                }
            } else {
                bytes = Array(value.bytes)
            }
            if value.meta & EntryMeta.delete != 0 { bytes = [] }
            entries.append(FeedEntry(key: Array(key), value: bytes, version: version, userMeta: value.userMeta,
                                     expiresAt: value.expiresAt, isDelete: value.meta & EntryMeta.delete != 0,
                                     discardEarlierVersions: value.meta & EntryMeta.discardEarlierVersions != 0))
        }
        if let failure { throw failure }
        return entries.isEmpty ? nil : CommittedBatch(commitTs: ts, entries: entries)
    }

    @inline(__always)
    private func matches(_ key: UnsafeRawBufferPointer) -> Bool {
        if prefixes.isEmpty { return true }
        for p in prefixes where p.count <= key.count {
            if p.withUnsafeBytes({ compareBytes($0, UnsafeRawBufferPointer(rebasing: key[0 ..< p.count])) == 0 }) {
                return true
            }
        }
        return false
    }
}
