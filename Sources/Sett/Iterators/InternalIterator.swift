/// The iterator contract shared by every source of internal keys: skiplists, table
/// blocks, tables, levels and the merging iterator.
///
/// Ordering is `InternalKey.compare` (user key ascending, version descending).
/// `key` and `value` borrow the source's memory and stay valid until the next
/// call that moves the iterator (or until the iterator is released).
/// A source that meets corrupt data becomes invalid and reports it in `error`.
protocol InternalIterator: AnyObject {
    var valid: Bool { get }
    /// The full internal key (user key + 8-byte version suffix). Only when `valid`.
    var key: UnsafeRawBufferPointer { get }
    /// The decoded value. Only when `valid`.
    var value: ValueView { get }
    /// The first corruption or I/O error met, if any.
    var error: SettError? { get }

    func seekToFirst()
    func seekToLast()
    /// Positions at the first key >= `key`.
    func seek(_ key: UnsafeRawBufferPointer)
    /// Positions at the last key <= `key`.
    func seekForPrev(_ key: UnsafeRawBufferPointer)
    func next()
    func prev()
}

/// An owned copy of one stored version, as point lookups return it.
struct LookupResult: Sendable {
    var version: UInt64
    var meta: UInt8
    var userMeta: UInt8
    var expiresAt: UInt64
    /// The inline value, or the 12 encoded bytes of a value pointer when `isPointer`.
    var value: [UInt8]

    var isDeleted: Bool { meta & EntryMeta.delete != 0 }
    var isPointer: Bool { meta & EntryMeta.valuePointer != 0 }

    init(key: UnsafeRawBufferPointer, value v: ValueView) {
        version = InternalKey.version(key)
        meta = v.meta
        userMeta = v.userMeta
        expiresAt = v.expiresAt
        value = Array(v.bytes)
    }
}
