/// Iterates the newest visible version (at or below the read version) of each live
/// key, in key order or in reverse. Deleted and expired keys are skipped.
///
/// Internally it also serves transaction iterators: `sinceTs` hides versions at or
/// below it, and `allVersions` yields every visible version in merge order (a key's
/// versions newest first, or oldest first in reverse), tombstones and expired ones
/// included.
///
/// The iterator sees the memtables and tables that existed when it was made; tables
/// compacted away meanwhile stay readable until it is released.
/// Not thread-safe: use one iterator from one thread at a time.
public final class DBIterator {
    private let db: DB
    private let merge: MergeIterator
    private let readVersion: UInt64
    private let sinceTs: UInt64
    private let allVersions: Bool
    private let now = unixNow()
    private var hasCurrent = false
    private var curKey: [UInt8] = []      // user key
    private var curVersion: UInt64 = 0
    private var curMeta: UInt8 = 0
    private var curUserMeta: UInt8 = 0
    private var curExpiresAt: UInt64 = 0
    private var curValue: [UInt8] = []    // inline value or encoded pointer

    init(db: DB, merge: MergeIterator, readVersion: UInt64, sinceTs: UInt64 = 0, allVersions: Bool = false) {
        self.db = db
        self.merge = merge
        self.readVersion = readVersion
        self.sinceTs = sinceTs
        self.allVersions = allVersions
    }

    public var isReverse: Bool { merge.reverse }

    /// Positions at the first key (the last when reverse).
    public func rewind() {
        merge.rewind()
        find()
    }

    /// Positions at the first key >= `key` (the last key <= `key` when reverse).
    public func seek(_ key: [UInt8]) {
        // Forward: before every version of `key`; reverse: after every version.
        InternalKey.make(key, version: merge.reverse ? 0 : UInt64.max).withUnsafeBytes { merge.seek($0) }
        find()
    }

    /// Reverse only: positions at the last key strictly below `key`.
    func seekBefore(_ key: [UInt8]) {
        InternalKey.make(key, version: UInt64.max).withUnsafeBytes { merge.seek($0) }
        find()
    }

    public var valid: Bool { hasCurrent }

    public func next() {
        find()
    }

    /// The current key, copied.
    public var key: [UInt8] { curKey }

    /// Calls `body` with the current key borrowed (no copy).
    public func withKey<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try curKey.withUnsafeBytes(body)
    }

    public var version: UInt64 { curVersion }
    public var userMeta: UInt8 { curUserMeta }
    public var expiresAt: UInt64 { curExpiresAt }

    /// The current value, read from the value log if it lives there.
    public func value() throws -> [UInt8] {
        if curMeta & EntryMeta.valuePointer != 0 {
            return try curValue.withUnsafeBytes { try db.valueLog.read(ValuePointer.decode($0)) }
        }
        return curValue
    }

    /// Calls `body` with the current value borrowed: no copy for values stored in the
    /// tree; one value-log read for separated values. Valid only during the call.
    public func withValue<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        if curMeta & EntryMeta.valuePointer != 0 {
            return try value().withUnsafeBytes(body)
        }
        return try curValue.withUnsafeBytes(body)
    }

    /// The first error met while iterating, if any.
    public var error: SettError? { merge.error }

    private func capture() {
        let k = merge.key
        curKey.removeAll(keepingCapacity: true)
        curKey.append(contentsOf: InternalKey.userKey(k))
        curVersion = InternalKey.version(k)
        let v = merge.value
        curMeta = v.meta
        curUserMeta = v.userMeta
        curExpiresAt = v.expiresAt
        curValue.removeAll(keepingCapacity: true)
        curValue.append(contentsOf: v.bytes)
    }

    /// The current version as an item; `withValue` false leaves the value out.
    func makeItem(withValue: Bool) -> Item {
        Item(key: curKey, version: curVersion, meta: curMeta, userMeta: curUserMeta, expiresAt: curExpiresAt,
             raw: curValue, db: db, hasValue: withValue)
    }

    private var currentIsLive: Bool {
        curMeta & EntryMeta.delete == 0 && (curExpiresAt == 0 || curExpiresAt > now)
    }

    /// From the merge position, finds the next user key with a live visible version,
    /// leaving the merge positioned past all of that key's versions.
    private func find() {
        if allVersions {
            findAnyVersion()
            return
        }
        if merge.reverse { findReverse() } else { findForward() }
    }

    private func findForward() {
        while merge.valid {
            if InternalKey.version(merge.key) > readVersion {
                merge.next()
                continue
            }
            capture()
            merge.next()
            curKey.withUnsafeBytes { uk in
                while merge.valid && compareBytes(InternalKey.userKey(merge.key), uk) == 0 { merge.next() }
            }
            if curVersion > sinceTs && currentIsLive {
                hasCurrent = true
                return
            }
        }
        hasCurrent = false
    }

    /// All-versions mode: the next version in merge order within (sinceTs, readVersion].
    private func findAnyVersion() {
        while merge.valid {
            let v = InternalKey.version(merge.key)
            if v > readVersion || v <= sinceTs {
                merge.next()
                continue
            }
            capture()
            merge.next()
            hasCurrent = true
            return
        }
        hasCurrent = false
    }

    /// In reverse, a key's versions arrive oldest first: the last one at or below the
    /// read version is the visible one.
    private func findReverse() {
        var group: [UInt8] = []
        while merge.valid {
            group.removeAll(keepingCapacity: true)
            group.append(contentsOf: InternalKey.userKey(merge.key))
            var found = false
            group.withUnsafeBytes { uk in
                while merge.valid && compareBytes(InternalKey.userKey(merge.key), uk) == 0 {
                    if InternalKey.version(merge.key) <= readVersion {
                        capture()
                        found = true
                    }
                    merge.next()
                }
            }
            if found && curVersion > sinceTs && currentIsLive {
                hasCurrent = true
                return
            }
        }
        hasCurrent = false
    }
}
