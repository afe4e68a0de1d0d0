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
    /// The current entry is the merge's current entry, read in place (forward, and
    /// all-versions); otherwise it was copied into `saved*` (reverse, where a key's
    /// visible version is only known after moving past it).
    private var borrowed = false
    private let savedKey = ByteScratch()     // user key
    private var savedVersion: UInt64 = 0
    private var savedMeta: UInt8 = 0
    private var savedUserMeta: UInt8 = 0
    private var savedExpiresAt: UInt64 = 0
    private let savedValue = ByteScratch()   // inline value or encoded pointer
    /// The user key being skipped past (forward).
    private let skipKey = ByteScratch()
    /// A read timestamp this iterator holds in the oracle's read mark (see
    /// `DB.makeIterator(at:reverse:)`), released with the iterator.
    var registeredRead: UInt64?

    init(db: DB, merge: MergeIterator, readVersion: UInt64, sinceTs: UInt64 = 0, allVersions: Bool = false) {
        self.db = db
        self.merge = merge
        self.readVersion = readVersion
        self.sinceTs = sinceTs
        self.allVersions = allVersions
    }

    deinit {
        if let ts = registeredRead { db.finishRead(ts) }
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
        guard hasCurrent else { return }
        if borrowed {
            if allVersions { merge.next() } else { skipVersions(of: currentUserKey) }
        }
        find()
    }

    /// The current key, copied.
    public var key: [UInt8] { Array(currentUserKey) }

    /// Calls `body` with the current key borrowed (no copy); valid only during the call.
    public func withKey<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(currentUserKey)
    }

    public var version: UInt64 { borrowed ? InternalKey.version(merge.key) : savedVersion }
    public var userMeta: UInt8 { borrowed ? merge.value.userMeta : savedUserMeta }
    public var expiresAt: UInt64 { borrowed ? merge.value.expiresAt : savedExpiresAt }

    /// The current value, read from the value log if it lives there.
    public func value() throws -> [UInt8] {
        let (meta, raw) = currentRaw
        if meta & EntryMeta.valuePointer != 0 {
            return try db.readValue(ValuePointer.decode(raw), key: currentUserKey, version: version)
        }
        return Array(raw)
    }

    /// Calls `body` with the current value borrowed: no copy for values stored in the
    /// tree; one value-log read for separated values. Valid only during the call.
    public func withValue<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let (meta, raw) = currentRaw
        if meta & EntryMeta.valuePointer != 0 {
            return try db.readValue(ValuePointer.decode(raw), key: currentUserKey, version: version)
                .withUnsafeBytes(body)
        }
        return try body(raw)
    }

    /// The first error met while iterating, if any.
    public var error: SettError? { merge.error }

    private var currentUserKey: UnsafeRawBufferPointer {
        borrowed ? InternalKey.userKey(merge.key) : savedKey.bytes
    }

    /// Meta and stored bytes (inline value or encoded pointer) of the current entry.
    private var currentRaw: (UInt8, UnsafeRawBufferPointer) {
        if borrowed {
            let v = merge.value
            return (v.meta, v.bytes)
        }
        return (savedMeta, savedValue.bytes)
    }

    /// The current version as an item; `withValue` false leaves the value out.
    func makeItem(withValue: Bool) -> Item {
        let (meta, raw) = currentRaw
        return Item(key: Array(currentUserKey), version: version, meta: meta, userMeta: userMeta, expiresAt: expiresAt,
                    raw: Array(raw), db: db, hasValue: withValue)
    }

    @inline(__always)
    private func isLive(meta: UInt8, expiresAt: UInt64) -> Bool {
        meta & EntryMeta.delete == 0 && (expiresAt == 0 || expiresAt > now)
    }

    /// Copies the merge's current entry into `saved*`.
    private func save() {
        let k = merge.key
        savedKey.assign(InternalKey.userKey(k))
        savedVersion = InternalKey.version(k)
        let v = merge.value
        savedMeta = v.meta
        savedUserMeta = v.userMeta
        savedExpiresAt = v.expiresAt
        savedValue.assign(v.bytes)
    }

    /// Forward: moves the merge past every remaining version of `userKey` (which may
    /// point into the merge's current entry).
    private func skipVersions(of userKey: UnsafeRawBufferPointer) {
        skipKey.assign(userKey)
        let uk = skipKey.bytes
        merge.next()
        while merge.valid && compareBytes(InternalKey.userKey(merge.key), uk) == 0 { merge.next() }
    }

    /// From the merge position, finds the next user key with a live visible version.
    /// Forward (and all-versions) modes leave the merge on it; reverse leaves the merge
    /// past all of that key's versions, with the entry saved.
    private func find() {
        hasCurrent = false
        borrowed = false
        if allVersions {
            findAnyVersion()
        } else if merge.reverse {
            findReverse()
        } else {
            findForward()
        }
    }

    /// The newest version of each key at or below the read version comes first.
    private func findForward() {
        while merge.valid {
            let k = merge.key
            let version = InternalKey.version(k)
            if version > readVersion {
                merge.next()
                continue
            }
            let v = merge.value
            if version > sinceTs && isLive(meta: v.meta, expiresAt: v.expiresAt) {
                hasCurrent = true
                borrowed = true
                return
            }
            skipVersions(of: InternalKey.userKey(k))
        }
    }

    /// All-versions mode: the next version in merge order within (sinceTs, readVersion].
    private func findAnyVersion() {
        while merge.valid {
            let v = InternalKey.version(merge.key)
            if v > readVersion || v <= sinceTs {
                merge.next()
                continue
            }
            hasCurrent = true
            borrowed = true
            return
        }
    }

    /// In reverse, a key's versions arrive oldest first: the last one at or below the
    /// read version is the visible one.
    private func findReverse() {
        while merge.valid {
            skipKey.assign(InternalKey.userKey(merge.key))
            let uk = skipKey.bytes
            var found = false
            while merge.valid && compareBytes(InternalKey.userKey(merge.key), uk) == 0 {
                if InternalKey.version(merge.key) <= readVersion {
                    save()
                    found = true
                }
                merge.next()
            }
            if found && savedVersion > sinceTs && isLive(meta: savedMeta, expiresAt: savedExpiresAt) {
                hasCurrent = true
                return
            }
        }
    }
}
