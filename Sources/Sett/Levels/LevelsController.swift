import Logging
import Synchronization

/// Owns the tables of every level: lookups across levels, adding flushed L0 tables,
/// background compaction, and the L0 write stall.
///
/// Thread safety: `monitor` guards `current`, `busyLevels` and `stopping`. Readers
/// copy `current` (a snapshot) under the lock and search it without it. Compactions
/// reserve their source and target levels in `busyLevels`, so concurrent compactions
/// never touch the same level.
final class LevelsController: @unchecked Sendable {
    let options: Options
    let fs: any FileSystem
    let dir: String
    let manifest: Manifest
    let cache: BlockCache?
    /// Receives discard statistics for value-log pointers dropped by compaction.
    let valueLog: ValueLog?
    let logger: Logger

    let monitor = Monitor()
    private var current: LevelsSnapshot
    private var busyLevels = Set<Int>()
    private var stopping = false
    private var workers: [WorkerThread] = []
    private let nextTableId: Atomic<UInt64>
    /// Versions at or below this may be dropped when shadowed (set by the DB).
    let discardTs = Atomic<UInt64>(0)
    let compactionCount = Atomic<Int>(0)
    let stallCount = Atomic<Int>(0)
    /// The first background compaction error; reported by `stats` and logged.
    private(set) var backgroundError: SettError?
    /// Set (never cleared) once `backgroundError` is: a lock-free check for writers.
    let hasBackgroundError = Atomic<Bool>(false)

    /// Opens every table the manifest lists; removes table files it does not list
    /// (left by a compaction or flush that crashed before its manifest edit).
    init(options: Options, fs: any FileSystem, manifest: Manifest, cache: BlockCache?, valueLog: ValueLog?) throws {
        self.options = options
        self.fs = fs
        self.dir = options.dir
        self.manifest = manifest
        self.cache = cache
        self.valueLog = valueLog
        self.logger = options.logger
        let state = manifest.state
        var snap = LevelsSnapshot(maxLevels: options.maxLevels)
        var maxId = state.maxTableId
        for (id, info) in state.tables {
            guard info.level < options.maxLevels else {
                throw SettError.corruption("table \(id) is at level \(info.level) but maxLevels is \(options.maxLevels)",
                                           file: joinPath(dir, "MANIFEST"), offset: nil)
            }
            let path = joinPath(dir, Table.fileName(id))
            guard fs.exists(path) else {
                throw SettError.corruption("table listed in the manifest is missing", file: path, offset: nil)
            }
            let table = try Table.open(fs: fs, path: path, id: id, checksumMode: options.checksumVerificationMode, cache: cache)
            snap.levels[info.level].append(table)
            maxId = max(maxId, id)
        }
        snap.levels[0].sort { $0.id > $1.id }
        for l in 1 ..< snap.levels.count { LevelsSnapshot.sortLevel(&snap.levels[l]) }
        for name in try fs.list(dir) where name.hasSuffix(".sst") {
            guard let id = UInt64(name.dropLast(4)) else { continue }
            if state.tables[id] == nil && !options.readOnly {
                logger.warning("removing table file not in the manifest", metadata: ["file": "\(name)"])
                try fs.remove(joinPath(dir, name))
            }
            maxId = max(maxId, id)
        }
        current = snap
        nextTableId = Atomic(maxId + 1)
    }

    func newTableId() -> UInt64 { nextTableId.wrappingAdd(1, ordering: .relaxed).oldValue }

    func snapshot() -> LevelsSnapshot { monitor.withLock { current } }

    var level0Count: Int { monitor.withLock { current.levels[0].count } }

    /// Publishes a flushed memtable as the newest L0 table (manifest first, then memory).
    func addLevel0(_ table: Table) throws {
        try manifest.apply([.create(table.id, level: 0, compression: table.compression)])
        monitor.withLock {
            current.levels[0].insert(table, at: 0)
            monitor.broadcast()
        }
    }

    /// Blocks while L0 holds `numLevelZeroTablesStall` tables or more, so that writes
    /// cannot outrun compaction without bound. Returns at once when compaction is off.
    func waitForLevel0Room() {
        guard options.numCompactors > 0 else { return }
        monitor.withLock {
            var counted = false
            while current.levels[0].count >= options.numLevelZeroTablesStall && !stopping && backgroundError == nil {
                if !counted { stallCount.add(1, ordering: .relaxed); counted = true }
                monitor.wait(seconds: 0.1)
            }
        }
    }

    /// Searches every level for the newest version of `seekKey`'s user key at or below
    /// its version, improving `best` (which may already hold a memtable hit).
    /// Tables whose newest version cannot beat `best` are skipped.
    func get(_ seekKey: UnsafeRawBufferPointer, hash: UInt64, best: inout LookupResult?) throws {
        let snap = snapshot()
        for t in snap.levels[0] {
            if let b = best, b.version >= t.maxVersion { continue }
            if let r = try t.get(seekKey, userKeyHash: hash), best == nil || r.version > best!.version { best = r }
        }
        for l in 1 ..< snap.levels.count {
            let tables = snap.levels[l]
            if tables.isEmpty { continue }
            var lo = 0, hi = tables.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if InternalKey.compare(tables[mid].biggest, seekKey) < 0 { lo = mid + 1 } else { hi = mid }
            }
            if lo == tables.count { continue }
            let t = tables[lo]
            if let b = best, b.version >= t.maxVersion { continue }
            if let r = try t.get(seekKey, userKeyHash: hash), best == nil || r.version > best!.version { best = r }
        }
    }

    // MARK: background work

    func startCompactors() {
        guard !options.readOnly else { return }
        for i in 0 ..< options.numCompactors {
            workers.append(WorkerThread(name: "sett-compact\(i)") { [self] in compactorLoop() })
        }
    }

    /// Stops compactors after their current compaction and waits for them.
    func stop() {
        monitor.withLock {
            stopping = true
            monitor.broadcast()
        }
        for w in workers { w.join() }
        workers.removeAll()
    }

    private func compactorLoop() {
        while true {
            let plan: CompactionPlan? = monitor.withLock {
                while true {
                    if stopping { return nil }
                    if backgroundError == nil, let p = pickCompaction() { return p }
                    monitor.wait(seconds: 1)
                }
            }
            guard let plan else { return }
            runAndPublish(plan)
        }
    }

    /// Runs a reserved plan and releases its levels; errors are kept as `backgroundError`.
    func runAndPublish(_ plan: CompactionPlan) {
        do {
            try run(plan)
        } catch {
            let e = error as? SettError ?? SettError(.io, "\(error)")
            logger.error("compaction failed", metadata: ["error": "\(e)", "from": "\(plan.fromLevel)"])
            monitor.withLock {
                if backgroundError == nil { backgroundError = e }
                hasBackgroundError.store(true, ordering: .releasing)
            }
        }
        monitor.withLock {
            busyLevels.remove(plan.fromLevel)
            busyLevels.remove(plan.toLevel)
            monitor.broadcast()
        }
    }

    // MARK: used by Compaction.swift and CompactionPicker.swift (lock held where noted)

    /// Lock held. Reserves the plan's levels.
    func reserve(_ plan: CompactionPlan) -> Bool {
        if busyLevels.contains(plan.fromLevel) || busyLevels.contains(plan.toLevel) { return false }
        busyLevels.insert(plan.fromLevel)
        busyLevels.insert(plan.toLevel)
        return true
    }

    /// Lock held.
    var currentLocked: LevelsSnapshot { current }
    /// Lock held.
    var stoppingLocked: Bool { stopping }
    /// Lock held.
    var backgroundErrorLocked: SettError? { backgroundError }

    /// Replaces inputs with outputs in the published snapshot (manifest already updated).
    func publish(_ plan: CompactionPlan, outputs: [Table], markInputs: Bool) {
        if markInputs {
            for t in plan.top { t.markForDeletion() }
            for t in plan.bottom { t.markForDeletion() }
        }
        monitor.withLock {
            let topIds = Set(plan.top.map(\.id)), bottomIds = Set(plan.bottom.map(\.id))
            current.levels[plan.fromLevel].removeAll { topIds.contains($0.id) }
            current.levels[plan.toLevel].removeAll { bottomIds.contains($0.id) }
            current.levels[plan.toLevel].append(contentsOf: outputs)
            LevelsSnapshot.sortLevel(&current.levels[plan.toLevel])
            monitor.broadcast()
        }
    }
}
