import Logging
import Synchronization

/// An open database. Thread-safe: any number of threads may read and write at once.
///
/// This is the versioned core: every write carries its version (timestamp) and reads
/// name the version they read at. Transactions (an oracle assigning versions) sit on top.
///
/// Structure: one active memtable (with its WAL) takes writes; full memtables become
/// immutable and a flush thread turns each into an L0 table; compactor threads keep
/// the levels in shape; values of `valueThreshold` bytes or more live in the value log.
public final class DB: @unchecked Sendable {
    let options: Options
    let fs: any FileSystem
    let logger: Logger
    let dirLock: (any FileLock)?
    let valueDirLock: (any FileLock)?
    let manifest: Manifest
    let valueLog: ValueLog
    let levels: LevelsController
    let blockCache: BlockCache?
    /// The commit feed: retained WAL segments and the published live tail.
    let feed: FeedLog

    /// Guards `memtables`, `closed` and the flush queue; flush and rotation signal on it.
    let memMonitor = Monitor()
    /// memtables[0] is the active one; the rest are immutable, newest first.
    var memtables: [Memtable]
    var closed = false
    var nextWALId: UInt64
    var flushThread: WorkerThread?
    var flushError: SettError?
    /// Flushed memtables whose WAL is being retired (and feed retention applied).
    var retiringWALs = 0
    /// Set when a write-path fsync (WAL or value log) failed: the pages of that write may
    /// be lost even though later fsyncs succeed, so no later write may be acknowledged.
    let writeStopError = Mutex<SettError?>(nil)
    /// Set (never cleared) once `writeStopError` or `flushError` is: the lock-free fast
    /// path of `checkWritesAllowed`.
    let writesRefused = Atomic<Bool>(false)

    /// Group commit: queued writers; the front one appends for the group.
    let writeMonitor = Monitor()
    var writeQueue: [WriteRequest] = []
    /// Wait slots of write requests, taken round-robin (count is a power of two).
    let requestSignals = (0 ..< 64).map { _ in Monitor() }
    var nextRequestSignal = 0
    /// Guards the commit pipeline below (groups appended, synced, applied).
    let pipeline = Monitor()
    var appendedGroups: UInt64 = 0
    var appliedGroups: UInt64 = 0
    /// Appended groups not yet applied, in append order.
    var pendingGroups: [AppendedGroup] = []
    /// Some thread holds (or has been handed) the drain role: it syncs and applies the
    /// pending groups (see `drainPipeline`).
    var drainerActive = false
    /// Requests appended to the WAL, and requests covered by a finished fsync.
    var appendedRequests = 0
    var syncedRequests = 0
    /// Smoothed duration of a WAL fsync, for the group-commit delay.
    var fsyncNanos: UInt64 = 0
    /// WAL fsyncs of the commit pipeline and their total duration (for `stats()`).
    var walSyncs = 0
    var walSyncNanosTotal: UInt64 = 0
    /// Writes between `enqueueWrite` and the return of their commit: the committers a
    /// syncer may wait for (see `awaitMoreCommittersLocked`).
    let committersInFlight = Atomic<Int>(0)
    var lastAppendedWAL: WALWriter?
    /// Scratch buffer of the group leader for encoding WAL records.
    var walBuffer = ByteWriter(capacity: 1 << 20)

    /// A value-log GC is running (one at a time).
    let valueLogGCActive = Atomic<Bool>(false)
    /// The background value-log GC thread (`Options.valueLogGCInterval`) and its wake-up.
    var valueLogGCThread: WorkerThread?
    let valueLogGCMonitor = Monitor()
    /// Per feed segment id: the value-log file of its first pointer (`UInt32.max`: none,
    /// for retained segments), so GC reads each segment up to its first pointer once.
    let firstValueLogFidOfSegment = Mutex<[UInt64: UInt32]>([:])

    /// Timestamps, watermarks and conflict detection for transactions.
    let oracle = Oracle()
    /// Threads that wait for async commits (never the Swift concurrency pool).
    let committers = CommitterPool(threads: 2)

    let maxVersionSeen = Atomic<UInt64>(0)
    /// Mirrors `closed` for lock-free checks on the read path.
    let isClosed = Atomic<Bool>(false)
    let flushCount = Atomic<Int>(0)

    init(options: Options, fs: any FileSystem, dirLock: (any FileLock)?, valueDirLock: (any FileLock)?, manifest: Manifest,
         valueLog: ValueLog, levels: LevelsController, blockCache: BlockCache?, memtables: [Memtable], nextWALId: UInt64, feed: FeedLog) {
        self.options = options
        self.fs = fs
        self.logger = options.logger
        self.dirLock = dirLock
        self.valueDirLock = valueDirLock
        self.manifest = manifest
        self.valueLog = valueLog
        self.levels = levels
        self.blockCache = blockCache
        self.memtables = memtables
        self.nextWALId = nextWALId
        self.feed = feed
    }

    /// The highest version written so far (0 for an empty database).
    public var maxVersion: UInt64 { maxVersionSeen.load(ordering: .acquiring) }

    /// Versions at or below `ts` that are shadowed by a newer version at or below `ts`
    /// may be dropped by compaction (keeping `numVersionsToKeep`). Never lowers.
    public func setDiscardTs(_ ts: UInt64) {
        levels.discardTs.max(ts, ordering: .acquiringAndReleasing)
    }

    public var discardTs: UInt64 { levels.discardTs.load(ordering: .acquiring) }

    @inline(__always)
    func checkOpen() throws {
        if isClosed.load(ordering: .acquiring) { throw SettError(.closed, "database is closed") }
    }

    public func stats() -> DBStats {
        var s = DBStats()
        memMonitor.withLock {
            s.memtableBytes = memtables.first?.skiplist.memoryUsed ?? 0
            s.immutableMemtables = max(0, memtables.count - 1)
        }
        let snap = levels.snapshot()
        s.levels = snap.levels.map { ($0.count, $0.reduce(0) { $0 + $1.onDiskSize }) }
        s.valueLogFiles = valueLog.fileIds.count
        s.valueLogBytes = valueLog.totalBytes
        let live = Set(valueLog.fileIds)
        s.valueLogStaleBytes = valueLog.discard.snapshot.reduce(0) { $0 + (live.contains($1.key) ? $1.value : 0) }
        s.blockCacheBytes = blockCache?.usedBytes ?? 0
        s.maxVersion = maxVersion
        s.compactions = levels.compactionCount.load(ordering: .relaxed)
        s.flushes = flushCount.load(ordering: .relaxed)
        s.stalledWrites = levels.stallCount.load(ordering: .relaxed)
        pipeline.withLock {
            s.walWrites = appendedRequests
            s.walAppends = Int(appendedGroups)
            s.walSyncs = walSyncs
            s.walSyncMicros = walSyncNanosTotal / 1000
        }
        return s
    }
}
