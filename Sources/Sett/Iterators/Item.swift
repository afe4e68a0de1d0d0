/// One version of a key, as `Txn.get` and iterators return it.
///
/// The key and small values are held by the item. A value stored in the value log is
/// read from it when first asked for (or ahead of time, when the iterator prefetches
/// values); reading it needs the database to be open.
public struct Item: Sendable {
    /// The user key.
    public let key: [UInt8]
    /// The commit timestamp of this version. A write pending in the reading
    /// transaction itself shows the transaction's read timestamp.
    public let version: UInt64
    /// The application's metadata byte.
    public let userMeta: UInt8
    /// Unix seconds after which the entry reads as absent; 0 = never.
    public let expiresAt: UInt64
    let meta: UInt8
    /// The inline value, or the 12 encoded bytes of a value pointer when `isPointer`.
    let raw: [UInt8]
    let db: DB?
    /// False for items of a keys-only iterator.
    let hasValue: Bool

    init(key: [UInt8], version: UInt64, meta: UInt8, userMeta: UInt8, expiresAt: UInt64, raw: [UInt8], db: DB?,
         hasValue: Bool = true) {
        self.hasValue = hasValue
        self.key = key
        self.version = version
        self.meta = meta
        self.userMeta = userMeta
        self.expiresAt = expiresAt
        self.raw = raw
        self.db = db
    }

    var isPointer: Bool { meta & EntryMeta.valuePointer != 0 }

    /// True for a deletion (tombstone) or a version whose `expiresAt` has passed. Only
    /// all-versions iteration yields such items.
    public var isDeletedOrExpired: Bool {
        meta & EntryMeta.delete != 0 || (expiresAt != 0 && expiresAt <= unixNow())
    }

    /// True when this version was written with `discardEarlierVersions`.
    public var discardEarlierVersions: Bool { meta & EntryMeta.discardEarlierVersions != 0 }

    /// The value, copied (read from the value log if it lives there).
    /// Throws `.invalidArgument` for items of a keys-only iterator.
    public func value() throws -> [UInt8] {
        guard hasValue else { throw SettError.invalid("the iterator was opened keysOnly: items carry no values") }
        guard isPointer else { return raw }
        guard let db else { throw SettError(.closed, "value pointer without a database") }
        try db.checkOpen()
        return try raw.withUnsafeBytes { try db.readValue(ValuePointer.decode($0), key: key, version: version) }
    }

    /// Calls `body` with the value's bytes, borrowed for the duration of the call
    /// (no copy for values stored in the tree; a value-log value is read first).
    public func withValue<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        if isPointer || !hasValue {
            let v = try value()
            return try v.withUnsafeBytes(body)
        }
        return try raw.withUnsafeBytes(body)
    }

    /// The size of the value in bytes without reading it (approximate for a value in
    /// the value log, whose entry length includes a small header).
    public var valueSize: Int {
        if isPointer, let p = try? raw.withUnsafeBytes({ try ValuePointer.decode($0) }) {
            return max(0, Int(p.len) - key.count - 16)  // entry header and checksum are overhead
        }
        return raw.count
    }

    /// Approximate bytes of this version on disk: key, version, metadata and value.
    public var estimatedSize: Int {
        if isPointer, let p = try? raw.withUnsafeBytes({ try ValuePointer.decode($0) }) {
            return key.count + InternalKey.suffixSize + Int(p.len)
        }
        return key.count + InternalKey.suffixSize + 2 + raw.count
    }

    /// The item with its value-log value read now (so later reads need no I/O).
    func resolved() throws -> Item {
        guard isPointer else { return self }
        let v = try value()
        return Item(key: key, version: version, meta: meta & ~EntryMeta.valuePointer, userMeta: userMeta,
                    expiresAt: expiresAt, raw: v, db: db)
    }
}
