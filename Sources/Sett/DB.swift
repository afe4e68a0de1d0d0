import Logging

/// A versioned value as `DB.get` returns it.
public struct VersionedValue: Sendable, Equatable {
    public var version: UInt64
    public var value: [UInt8]
    public var userMeta: UInt8
    /// Unix seconds; 0 = never.
    public var expiresAt: UInt64
}

/// Counters describing the database, for `sett info` and benchmarks.
public struct DBStats: Sendable, CustomStringConvertible {
    public var memtableBytes: Int = 0
    public var immutableMemtables: Int = 0
    /// Per level: (table count, bytes).
    public var levels: [(tables: Int, bytes: Int)] = []
    public var valueLogFiles: Int = 0
    public var valueLogBytes: Int = 0
    public var blockCacheBytes: Int = 0
    public var maxVersion: UInt64 = 0
    public var compactions: Int = 0
    public var flushes: Int = 0
    public var stalledWrites: Int = 0

    public var description: String {
        var s = "memtable: \(memtableBytes) B active, \(immutableMemtables) immutable\n"
        for (i, l) in levels.enumerated() where l.tables > 0 {
            s += "L\(i): \(l.tables) tables, \(l.bytes) B\n"
        }
        s += "value log: \(valueLogFiles) files, \(valueLogBytes) B\n"
        s += "block cache: \(blockCacheBytes) B\n"
        s += "max version: \(maxVersion); flushes \(flushes), compactions \(compactions), write stalls \(stalledWrites)"
        return s
    }
}

/// An open database. Thread-safe: any number of threads may read and write at once.
///
/// This is the versioned core: every write carries its version (timestamp) and reads
/// name the version they read at. Transactions (an oracle assigning versions) sit on top.
public final class DB: @unchecked Sendable {
    /// Opens (creating if needed) the database described by `options`.
    public static func open(_ options: Options) throws -> DB {
        throw SettError(.unsupported, "not built yet")
    }

    /// Flushes what must be flushed, stops background work, releases the directory lock.
    /// Further calls throw `.closed`.
    public func close() throws {}

    /// Applies `batch` atomically. With `syncWrites` it is durable when this returns.
    public func write(_ batch: EntryBatch) throws {}

    /// The newest version of `key` at or below `version`; nil if absent, deleted or expired.
    public func get(_ key: [UInt8], at version: UInt64 = UInt64.max - 1) throws -> VersionedValue? { nil }

    /// An iterator over the newest visible version (<= `version`) of every live key.
    public func makeIterator(at version: UInt64 = UInt64.max - 1, reverse: Bool = false) -> DBIterator {
        DBIterator()
    }

    /// Compacts until every table is in one level (the last non-empty one).
    public func flatten() throws {}

    /// Makes every acknowledged write durable (fsync of WAL and value log).
    public func sync() throws {}

    /// The highest version written so far (0 for an empty database).
    public var maxVersion: UInt64 { 0 }

    public func stats() -> DBStats { DBStats() }
}

/// Iterates the newest visible version of each key, in key order (or reverse).
/// Not thread-safe: use one iterator from one thread at a time.
public final class DBIterator {
    init() {}
    /// Positions at the first key (last when reverse).
    public func rewind() {}
    /// Positions at the first key >= `key` (<= `key` when reverse).
    public func seek(_ key: [UInt8]) {}
    public var valid: Bool { false }
    public func next() {}
    /// The current key, copied.
    public var key: [UInt8] { [] }
    /// Calls `body` with the current key borrowed (no copy).
    public func withKey<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: nil, count: 0))
    }
    public var version: UInt64 { 0 }
    /// The current value, read from the value log if it lives there.
    public func value() throws -> [UInt8] { [] }
    /// The first error met while iterating, if any.
    public var error: SettError? { nil }
}
