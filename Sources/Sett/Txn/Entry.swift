/// One key-value pair to write, with its optional attributes.
///
/// ```swift
/// var e = Entry(key: Array("session".utf8), value: token)
/// e.userMeta = 1
/// e = e.withTTL(seconds: 3600)     // expires in an hour
/// try txn.set(e)
/// ```
public struct Entry: Sendable, Equatable {
    /// The user key: non-empty, at most `Options.maxKeySize` bytes, not starting with
    /// the reserved prefix `!sett!`.
    public var key: [UInt8]
    /// The value, at most `Options.maxValueSize` bytes.
    public var value: [UInt8]
    /// One byte of application metadata stored beside the value.
    public var userMeta: UInt8 = 0
    /// Unix time in seconds after which the entry reads as absent; 0 = never.
    public var expiresAt: UInt64 = 0
    /// Lets compaction drop every older version of the key once this version is
    /// below the discard timestamp (regardless of `numVersionsToKeep`).
    public var discardEarlierVersions = false

    public init(key: [UInt8], value: [UInt8]) {
        self.key = key
        self.value = value
    }

    /// A copy that expires `seconds` from now.
    public func withTTL(seconds: UInt64) -> Entry {
        var e = self
        e.expiresAt = unixNow() + seconds
        return e
    }
}

/// The reserved key prefix for Sett's own keys; user writes of such keys are refused.
public let settInternalKeyPrefix: [UInt8] = Array("!sett!".utf8)

/// A write waiting in a transaction: a put (`entry`) or a deletion.
struct PendingWrite {
    var entry: Entry
    var isDelete: Bool
    /// Memtable bytes this write will take (for the size limit).
    var arenaBytes: Int

    var meta: UInt8 {
        (isDelete ? EntryMeta.delete : 0) | (entry.discardEarlierVersions ? EntryMeta.discardEarlierVersions : 0)
    }
}

extension DB {
    /// Checks a key and value a caller wants to write.
    func validateWrite(key: [UInt8], valueCount: Int) throws {
        if key.isEmpty { throw SettError.invalid("empty key") }
        if key.count > options.maxKeySize {
            throw SettError.invalid("key of \(key.count) bytes exceeds maxKeySize \(options.maxKeySize)")
        }
        if valueCount > options.maxValueSize {
            throw SettError.invalid("value of \(valueCount) bytes exceeds maxValueSize \(options.maxValueSize)")
        }
        if key.count >= settInternalKeyPrefix.count && key.starts(with: settInternalKeyPrefix) {
            throw SettError.invalid("keys starting with \"!sett!\" are reserved for Sett")
        }
    }

    /// Memtable bytes one entry takes (the same bound `arenaEstimate` uses for a batch).
    func arenaBytes(keyCount: Int, valueCount: Int, isDelete: Bool) -> Int {
        let valueBytes = valueCount >= options.valueThreshold && !isDelete ? ValuePointer.encodedSize : valueCount
        return Skiplist.nodeSizeEstimate(keyCount: keyCount + InternalKey.suffixSize, valueEncodedSize: 2 + 10 + valueBytes)
    }

    /// The most entries one transaction (or one commit of a `WriteBatch`) may hold:
    /// as many of the smallest possible entries as fit in `maxTxnBytes`.
    var maxTxnCount: Int { maxBatchArenaBytes / arenaBytes(keyCount: 1, valueCount: 0, isDelete: true) }

    /// The most memtable bytes one transaction may take: 15% of `memTableSize`.
    var maxTxnBytes: Int { maxBatchArenaBytes }
}
