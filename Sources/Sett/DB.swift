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

