import Logging

/// Block compression for tables. DO NOT CHANGE the raw values: they are stored
/// in table footers and the manifest.
public enum Compression: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case none = 0
    case snappy = 1
    case zstd = 2
    case lz4 = 3

    public var description: String {
        switch self {
        case .none: "none"
        case .snappy: "snappy"
        case .zstd: "zstd"
        case .lz4: "lz4"
        }
    }

    public init?(name: String) {
        guard let c = Compression.allCases.first(where: { $0.description == name.lowercased() }) else { return nil }
        self = c
    }
}

/// When table checksums are verified.
public enum ChecksumVerificationMode: Sendable {
    /// Never (fastest; corruption may surface as garbage or decode errors).
    case noVerification
    /// The whole table once, when it is opened.
    case onTableRead
    /// Each block when it is read from disk into memory (default).
    case onBlockRead
    case onTableAndBlockRead
}

/// Everything `DB.open` can be told. Defaults follow Badger's `DefaultOptions`,
/// except `valueThreshold` (1 KiB, so values above it are separated from keys) and
/// `checksumVerificationMode` (`.onBlockRead`).
public struct Options: Sendable {
    /// Directory for the manifest, tables and write-ahead logs.
    public var dir: String
    /// Directory for value-log files; defaults to `dir`.
    public var valueDir: String
    /// fsync the WAL (and value log) before a write is acknowledged.
    public var syncWrites = false
    /// Open without writing anything; shares the directory lock with other readers.
    public var readOnly = false
    /// Keep everything in memory; `dir` is ignored and nothing survives close.
    public var inMemory = false

    /// Bytes of arena per memtable; a full memtable becomes immutable and is flushed to L0.
    public var memTableSize: Int = 64 << 20
    /// Target size of a table in the base level; level L tables grow by `tableSizeMultiplier`.
    public var baseTableSize: Int = 2 << 20
    /// Target total size of the base level (the first level below L0 that holds data).
    public var baseLevelSize: Int = 10 << 20
    /// Each level targets this many times the size of the one above it.
    public var levelSizeMultiplier: Int = 10
    public var tableSizeMultiplier: Int = 2
    /// Levels including L0.
    public var maxLevels: Int = 7
    /// Values of at least this many bytes go to the value log; smaller ones stay in the tree.
    public var valueThreshold: Int = 1 << 10
    /// Memtables in memory at once (one active, the rest immutable awaiting flush).
    public var numMemtables: Int = 5
    /// Uncompressed size of a table block.
    public var blockSize: Int = 4 << 10
    /// False-positive rate of per-table bloom filters; 0 disables them.
    public var bloomFalsePositive: Double = 0.01
    /// Bytes of decompressed blocks kept in memory; 0 disables the block cache.
    public var blockCacheSize: Int = 256 << 20
    /// Badger's bound on heap memory for table indexes and bloom filters. Sett reads
    /// both in place from the memory-mapped table file, so they live in the OS page
    /// cache (evictable, not heap); per open table only a small block-offset view is
    /// held. The value is validated and kept for option-set compatibility but bounds
    /// nothing today.
    public var indexCacheSize: Int = 0
    /// L0 tables that trigger compaction into the base level.
    public var numLevelZeroTables: Int = 5
    /// L0 tables at which writes stall until compaction catches up.
    public var numLevelZeroTablesStall: Int = 15
    /// Size at which the active value-log file is rotated.
    public var valueLogFileSize: Int = (1 << 30) - 1
    /// Entries at which the active value-log file is rotated.
    public var valueLogMaxEntries: Int = 1_000_000
    /// Background compaction threads; 0 disables compaction (L0 will stall writes).
    public var numCompactors: Int = 4
    /// Compact L0 into the base level on close.
    public var compactL0OnClose = false
    public var compression: Compression = .snappy
    public var zstdCompressionLevel: Int = 1
    public var checksumVerificationMode: ChecksumVerificationMode = .onBlockRead
    /// Verify the checksum of each value read from the value log.
    public var verifyValueChecksum = false
    /// Versions of a key kept below the discard timestamp by compaction.
    public var numVersionsToKeep: Int = 1
    /// Background value-log GC, like PostgreSQL's autovacuum: every this many seconds a
    /// thread runs `runValueLogGC(discardRatio: valueLogGCDiscardRatio)` until no file
    /// qualifies (at most 16 files a round). 0 (the default, as in Badger) turns it
    /// off: call `DB.runValueLogGC` yourself.
    public var valueLogGCInterval: Double = 0
    /// The stale share a value-log file needs before background GC takes it.
    public var valueLogGCDiscardRatio: Double = 0.5
    public var logger = Logger(label: "sett")

    /// Commit feed: bytes of retained history (flushed WALs kept as `.log` segments)
    /// beyond which the oldest segments are removed. The default, 0, keeps none once
    /// flushed — an embedded database then costs no extra disk, and the feed serves
    /// history from the WALs of memtables not yet flushed. A replication primary, or
    /// an application that subscribes from old timestamps, raises it.
    public var feedRetentionBytes: Int = 0
    /// Commit feed: segments whose last write is older than this many seconds are
    /// removed (0 = no time limit). Checked after each memtable flush.
    public var feedRetentionSeconds: UInt64 = 3600
    /// Commit feed: retained bytes beyond which retention removes history even though a
    /// feed slot still needs it (the slot is then lost), like PostgreSQL's
    /// `max_slot_wal_keep_size`. 0 = no cap: a slot holds history until it advances.
    public var feedSlotMaxRetainedBytes: Int = 0
    /// Managed mode (Badger's `OpenManaged`): the caller chooses every read and commit
    /// timestamp (`newTransaction(readTs:update:)`, `Txn.commit(at:)`,
    /// `newWriteBatch(at:)`, `write(_: EntryBatch)`) and the discard timestamp
    /// (`setDiscardTs`). Oracle-assigned calls (`update`, `newTransaction(update:)`,
    /// `newWriteBatch()`) throw `.invalidArgument`. See `DB.leaveManagedMode()`.
    public var managedMode = false
    /// Serializable snapshot isolation: a transaction whose reads (keys and iterated
    /// ranges) were overwritten by a later commit fails with `.conflict`. False turns
    /// checking (and its bookkeeping) off: the last writer wins.
    public var detectConflicts = true

    /// Largest key accepted.
    public var maxKeySize: Int = 65000
    /// Largest value accepted.
    public var maxValueSize: Int = (1 << 30) - 1

    /// The file system; tests substitute crashable or failing ones.
    var fileSystem: any FileSystem = PosixFileSystem.shared

    public init(dir: String) {
        self.dir = dir
        self.valueDir = dir
    }

    /// Options for a memory-only database.
    public static func inMemory() -> Options {
        var o = Options(dir: "")
        o.inMemory = true
        return o
    }

    /// Refuses invalid values and combinations with `.invalidArgument`.
    public func validate() throws {
        func check(_ ok: Bool, _ what: String) throws {
            if !ok { throw SettError.invalid(what) }
        }
        if !inMemory {
            try check(!dir.isEmpty, "dir must be set (or use inMemory)")
            try check(!valueDir.isEmpty, "valueDir must be set")
        }
        try check(!(inMemory && readOnly), "inMemory and readOnly cannot be combined")
        try check(!(inMemory && syncWrites), "syncWrites has no meaning with inMemory")
        try check(memTableSize >= 1 << 16 && memTableSize <= 1 << 32 - 1, "memTableSize must be in 64 KiB ..< 4 GiB")
        try check(baseTableSize >= 1 << 10, "baseTableSize must be at least 1 KiB")
        try check(baseLevelSize >= baseTableSize, "baseLevelSize must be at least baseTableSize")
        try check(levelSizeMultiplier >= 2, "levelSizeMultiplier must be at least 2")
        try check(tableSizeMultiplier >= 1, "tableSizeMultiplier must be at least 1")
        try check(maxLevels >= 2 && maxLevels <= 16, "maxLevels must be in 2...16")
        try check(valueThreshold >= 0, "valueThreshold must not be negative")
        try check(valueThreshold <= memTableSize / 4,
                  "valueThreshold must be at most memTableSize/4, since smaller values are stored in the memtable")
        try check(numMemtables >= 1, "numMemtables must be at least 1")
        try check(blockSize >= 256 && blockSize <= 1 << 24, "blockSize must be in 256 B ... 16 MiB")
        try check(bloomFalsePositive >= 0 && bloomFalsePositive < 1, "bloomFalsePositive must be in [0, 1)")
        try check(blockCacheSize >= 0 && indexCacheSize >= 0, "cache sizes must not be negative")
        try check(numLevelZeroTables >= 1, "numLevelZeroTables must be at least 1")
        try check(numLevelZeroTablesStall > numLevelZeroTables,
                  "numLevelZeroTablesStall must be greater than numLevelZeroTables")
        try check(valueLogFileSize >= 1 << 20 && valueLogFileSize < 1 << 31,
                  "valueLogFileSize must be in 1 MiB ..< 2 GiB")
        try check(valueLogMaxEntries >= 1, "valueLogMaxEntries must be at least 1")
        try check(numCompactors >= 0, "numCompactors must not be negative")
        try check(zstdCompressionLevel >= 1 && zstdCompressionLevel <= 22, "zstdCompressionLevel must be in 1...22")
        try check(feedRetentionBytes >= 0, "feedRetentionBytes must not be negative")
        try check(feedSlotMaxRetainedBytes >= 0, "feedSlotMaxRetainedBytes must not be negative")
        try check(numVersionsToKeep >= 1, "numVersionsToKeep must be at least 1")
        try check(valueLogGCInterval >= 0 && valueLogGCInterval.isFinite, "valueLogGCInterval must be >= 0 seconds")
        try check(valueLogGCDiscardRatio > 0 && valueLogGCDiscardRatio < 1, "valueLogGCDiscardRatio must be in (0, 1)")
        try check(maxKeySize >= 1 && maxKeySize <= 65000, "maxKeySize must be in 1...65000")
        try check(maxValueSize >= 1 && maxValueSize < 1 << 31, "maxValueSize must be below 2 GiB")
    }
}
