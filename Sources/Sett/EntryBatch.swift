/// A batch of versioned entries applied atomically by `DB.write(_:)`: after a crash
/// either every entry of the batch is present or none is.
///
/// Keys and values are copied into one contiguous buffer, so building a batch costs
/// one growing allocation rather than one per entry.
public struct EntryBatch: Sendable {
    struct Slot: Sendable {
        var keyOffset: Int
        var keyCount: Int
        var valueOffset: Int
        var valueCount: Int
        var version: UInt64
        var expiresAt: UInt64
        var meta: UInt8
        var userMeta: UInt8
    }

    private(set) var arena: [UInt8] = []
    private(set) var slots: [Slot] = []
    /// A value-log GC rewrite, not a commit: its WAL record is marked so that the commit
    /// feed skips it (`EntryMeta.valueLogRewrite`).
    var isValueLogRewrite = false

    public init(capacity: Int = 0) {
        slots.reserveCapacity(capacity)
    }

    public var count: Int { slots.count }
    public var isEmpty: Bool { slots.isEmpty }
    /// Bytes of keys and values held.
    public var byteSize: Int { arena.count }

    /// Adds a put of `value` under `key` at `version` (> 0). `expiresAt` is a Unix time
    /// in seconds, 0 for never. Keys and values are copied.
    public mutating func set(_ key: [UInt8], _ value: [UInt8], version: UInt64,
                             userMeta: UInt8 = 0, expiresAt: UInt64 = 0, discardEarlierVersions: Bool = false) {
        key.withUnsafeBytes { k in
            value.withUnsafeBytes { v in
                set(k, v, version: version, userMeta: userMeta, expiresAt: expiresAt,
                    discardEarlierVersions: discardEarlierVersions)
            }
        }
    }

    /// Adds a put from borrowed bytes (copied).
    public mutating func set(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, version: UInt64,
                             userMeta: UInt8 = 0, expiresAt: UInt64 = 0, discardEarlierVersions: Bool = false) {
        add(key, value, version: version, meta: discardEarlierVersions ? EntryMeta.discardEarlierVersions : 0,
            userMeta: userMeta, expiresAt: expiresAt)
    }

    /// Adds a tombstone for `key` at `version`.
    public mutating func delete(_ key: [UInt8], version: UInt64) {
        key.withUnsafeBytes { delete($0, version: version) }
    }

    public mutating func delete(_ key: UnsafeRawBufferPointer, version: UInt64) {
        add(key, UnsafeRawBufferPointer(start: nil, count: 0), version: version, meta: EntryMeta.delete,
            userMeta: 0, expiresAt: 0)
    }

    mutating func add(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, version: UInt64,
                      meta: UInt8, userMeta: UInt8, expiresAt: UInt64) {
        let ko = arena.count
        arena.append(contentsOf: key)
        let vo = arena.count
        arena.append(contentsOf: value)
        slots.append(Slot(keyOffset: ko, keyCount: key.count, valueOffset: vo, valueCount: value.count,
                          version: version, expiresAt: expiresAt, meta: meta, userMeta: userMeta))
    }

    /// Sets the version of every entry (transactions learn their commit timestamp last).
    mutating func setVersion(_ version: UInt64) {
        for i in slots.indices { slots[i].version = version }
    }

    /// Empties the batch, keeping its storage for reuse.
    public mutating func removeAll() {
        arena.removeAll(keepingCapacity: true)
        slots.removeAll(keepingCapacity: true)
    }

    /// Calls `body` with each entry's key and value bytes, borrowed for the call.
    func forEach(_ body: (Slot, UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) rethrows {
        try arena.withUnsafeBytes { raw in
            for s in slots {
                try body(s, UnsafeRawBufferPointer(rebasing: raw[s.keyOffset ..< s.keyOffset + s.keyCount]),
                         UnsafeRawBufferPointer(rebasing: raw[s.valueOffset ..< s.valueOffset + s.valueCount]))
            }
        }
    }

    /// Checks keys and versions before anything is written.
    func validate(maxKeySize: Int, maxValueSize: Int) throws {
        for s in slots {
            if s.keyCount == 0 { throw SettError.invalid("empty key") }
            if s.keyCount > maxKeySize { throw SettError.invalid("key of \(s.keyCount) bytes exceeds \(maxKeySize)") }
            if s.valueCount > maxValueSize {
                throw SettError.invalid("value of \(s.valueCount) bytes exceeds \(maxValueSize)")
            }
            if s.version == 0 || s.version == UInt64.max { throw SettError.invalid("version must be in 1..<UInt64.max") }
        }
    }
}
