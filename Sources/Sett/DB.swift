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
    /// Value-log bytes compaction has reported stale (what GC can reclaim; a hint).
    public var valueLogStaleBytes: Int = 0
    public var blockCacheBytes: Int = 0
    public var maxVersion: UInt64 = 0
    public var compactions: Int = 0
    public var flushes: Int = 0
    public var stalledWrites: Int = 0
    /// Write batches (commits) appended to the WAL since open.
    public var walWrites: Int = 0
    /// WAL appends since open: one per commit group, so `walWrites / walAppends` is the
    /// mean group size.
    public var walAppends: Int = 0
    /// WAL fsyncs by the commit pipeline (`syncWrites`) since open, and their total time.
    public var walSyncs: Int = 0
    public var walSyncMicros: UInt64 = 0

    public var description: String {
        var s = "memtable: \(memtableBytes) B active, \(immutableMemtables) immutable\n"
        for (i, l) in levels.enumerated() where l.tables > 0 {
            s += "L\(i): \(l.tables) tables, \(l.bytes) B\n"
        }
        s += "value log: \(valueLogFiles) files, \(valueLogBytes) B, \(valueLogStaleBytes) B known stale\n"
        s += "block cache: \(blockCacheBytes) B\n"
        s += "max version: \(maxVersion); flushes \(flushes), compactions \(compactions), write stalls \(stalledWrites)\n"
        s += "WAL: \(walWrites) writes in \(walAppends) appends, \(walSyncs) commit fsyncs"
        if walSyncs > 0 { s += " (mean \(walSyncMicros / UInt64(walSyncs)) us)" }
        return s
    }
}

