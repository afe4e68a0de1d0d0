/// Decides which versions a flush or compaction may drop. Fed every entry in
/// internal-key order (per user key, newest version first):
/// - versions above the discard timestamp are kept (a reader may still need them);
/// - of those at or below it, the newest `numVersionsToKeep` are kept, and everything
///   older is dropped once a kept version is a tombstone, expired, or marked
///   discard-earlier-versions;
/// - such a tombstone or expired version is itself dropped when `isBottommost` (no
///   older data for the key can exist below the output).
struct VersionFilter {
    let discardTs: UInt64
    let numVersionsToKeep: Int
    let isBottommost: Bool
    let now: UInt64
    private var lastUserKey: [UInt8] = []
    private var haveLast = false
    private var keptAtOrBelowDiscard = 0
    private var skipRest = false

    init(discardTs: UInt64, numVersionsToKeep: Int, isBottommost: Bool, now: UInt64) {
        self.discardTs = discardTs
        self.numVersionsToKeep = numVersionsToKeep
        self.isBottommost = isBottommost
        self.now = now
        lastUserKey.reserveCapacity(64)
    }

    /// True when `key` starts a new user key (call before `keep`, which also tracks it).
    func startsNewUserKey(_ key: UnsafeRawBufferPointer) -> Bool {
        !haveLast || lastUserKey.withUnsafeBytes { compareBytes(InternalKey.userKey(key), $0) } != 0
    }

    /// Whether to keep this entry.
    mutating func keep(_ key: UnsafeRawBufferPointer, _ value: ValueView) -> Bool {
        if startsNewUserKey(key) {
            lastUserKey.removeAll(keepingCapacity: true)
            lastUserKey.append(contentsOf: InternalKey.userKey(key))
            haveLast = true
            keptAtOrBelowDiscard = 0
            skipRest = false
        }
        if skipRest { return false }
        guard InternalKey.version(key) <= discardTs else { return true }
        keptAtOrBelowDiscard += 1
        let gone = value.isDeleted || (value.expiresAt != 0 && value.expiresAt <= now)
        if gone || value.meta & EntryMeta.discardEarlierVersions != 0 || keptAtOrBelowDiscard >= numVersionsToKeep {
            skipRest = true
        }
        return !(gone && isBottommost)
    }
}

extension ValueLog {
    /// Counts a dropped entry's value-log bytes as stale, if it points into the log.
    func noteDropped(_ value: ValueView) {
        if value.isPointer, let ptr = try? ValuePointer.decode(value.bytes) {
            addDiscard(fid: ptr.fid, bytes: Int(ptr.len))
        }
    }
}
