#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Sett
import Synchronization

/// Runs the benchmarks of one `sett bench` invocation in order on one database, printing
/// db_bench lines as it goes and `RESULT` lines at the end. Used from one thread (the
/// benchmarks themselves start reader threads).
///
/// Versions: a counter starting at `db.maxVersion + 1`; each write batch takes the next
/// one for all its entries (like one transaction commit). Reads use the newest version.
final class BenchRunner {
    let cfg: BenchConfig
    private var db: DB?
    /// Every thread of every benchmark gets its own seed: `--seed` + 1, + 2, ... (as main.go).
    private var seedCounter: UInt64 = 0
    /// Built once, outside any timed region (1 MiB of random bytes).
    private lazy var values = ValueGenerator(valueSize: cfg.valueSize)

    init(_ cfg: BenchConfig) { self.cfg = cfg }

    /// Runs everything and prints the report; returns the results (with disk bytes).
    @discardableResult
    func run() throws -> [BenchResult] {
        printHeader()
        if !cfg.useExistingDB { try CLIFiles.removeTree(cfg.db) }
        try open(sync: cfg.sync)
        var results: [BenchResult] = []
        for b in cfg.benchmarks {
            let before = db?.stats()
            var r = try run(b)
            r.peakRSSKB = BenchSystem.peakRSSKB()
            emit(r.dbBenchLine)
            if let f = r.foundLine { emit(f) }
            if let before, let after = db?.stats(), let w = Self.walLine(before, after) { emit(w) }
            results.append(r)
        }
        try close()
        let disk = CLIFiles.bytesOnDisk(cfg.db)
        for i in results.indices {
            results[i].dbBytesOnDisk = disk
            emit(results[i].resultLine)
        }
        return results
    }

    /// Group-commit figures of the WAL between two stats snapshots; nil without writes.
    static func walLine(_ a: DBStats, _ b: DBStats) -> String? {
        let writes = b.walWrites - a.walWrites, appends = b.walAppends - a.walAppends
        guard writes > 0, appends > 0 else { return nil }
        var line = "  WAL: \(writes) commits, \(fmt(Double(writes) / Double(appends))) per append"
        let syncs = b.walSyncs - a.walSyncs
        if syncs > 0 {
            let micros = Double(b.walSyncMicros - a.walSyncMicros) / Double(syncs)
            line += ", \(fmt(Double(writes) / Double(syncs))) per fsync, fsync mean \(fmt(micros)) us"
        }
        return line
    }

    private static func fmt(_ x: Double) -> String {
        let r = (x * 10).rounded() / 10
        return String(r)
    }

    private func emit(_ line: String) {
        print(line)
        fflush(nil)  // all streams: the compare script reads stdout through a pipe
    }

    private func printHeader() {
        emit("Sett:       \(settVersion) (Swift)")
        emit("Keys:       \(cfg.keySize) bytes each (zero-padded decimal)")
        emit("Values:     \(cfg.valueSize) bytes each (compressible to 50%)")
        emit("Entries:    \(cfg.num)")
        emit("Reads:      \(cfg.reads) per reader thread")
        emit("Threads:    \(cfg.threads) readers, \(cfg.txnWriters) writer(s)")
        emit("Batch size: \(cfg.batchSize)")
        emit("SyncWrites: \(cfg.sync)")
        emit("Compression: \(cfg.compression)")
        let base = cfg.options(syncWrites: cfg.sync)
        emit("ValueThreshold: \(base.valueThreshold)")
        emit("BlockCacheMB: \(base.blockCacheSize >> 20)")
        emit("MemtableMB: \(base.memTableSize >> 20)")
        emit("Compactors: \(base.numCompactors)")
        emit("Seed:       \(cfg.seed)")
        emit("DB path:    [\(cfg.db)]")
        emit("------------------------------------------------")
    }

    // MARK: database lifecycle

    private func open(sync: Bool) throws {
        try CLIFiles.makeDirectories(cfg.db)
        let d = try DB.open(cfg.options(syncWrites: sync))
        db = d
    }

    private func close() throws {
        if let d = db {
            db = nil
            try d.close()
        }
    }

    /// Closes, wipes `--db` and opens an empty database.
    private func reopenEmpty(sync: Bool) throws {
        try close()
        try CLIFiles.removeTree(cfg.db)
        try open(sync: sync)
    }

    private func seeds(_ n: Int) -> [UInt64] {
        (0 ..< n).map { _ in
            seedCounter += 1
            return cfg.seed &+ seedCounter
        }
    }

    // MARK: benchmarks

    private func run(_ b: Benchmark) throws -> BenchResult {
        let cfg = self.cfg
        switch b {
        case .fillseq, .fillrandom, .fillsync:
            try reopenEmpty(sync: cfg.sync || b == .fillsync)
            let n = b == .fillsync ? cfg.num / 1000 : cfg.num
            let r = try writes(b, n: n, random: b != .fillseq, delete: false)
            if b == .fillsync && !cfg.sync {
                try close()
                try open(sync: false)
            }
            return r
        case .overwrite:
            return try writes(b, n: cfg.num, random: true, delete: false)
        case .deleteseq, .deleterandom:
            return try writes(b, n: cfg.num, random: b == .deleterandom, delete: true)
        case .readrandom:
            return try reads(b) { db, s in try WorkloadLoops.readRandom(db, cfg, &s, n: cfg.reads, offset: 0) }
        case .readmissing:
            return try reads(b) { db, s in try WorkloadLoops.readRandom(db, cfg, &s, n: cfg.reads, offset: cfg.num) }
        case .readseq, .readreverse:
            let reverse = b == .readreverse
            return try reads(b) { db, s in try WorkloadLoops.readSeq(db, &s, n: cfg.reads, reverse: reverse) }
        case .seekrandom:
            return try reads(b) { db, s in try WorkloadLoops.seekRandom(db, cfg, &s, n: cfg.reads) }
        case .readwhilewriting:
            return try readWhileWriting()
        case .compact:
            let db = try require()
            let (stats, secs) = try BenchThreads.run(seeds: seeds(1)) { s in
                let t0 = BenchSystem.nanos()
                try db.flatten()
                s.end(t0, 1)
            }
            return summarize(b, stats, secs, threads: 1, requested: nil)
        }
    }

    private func require() throws -> DB {
        guard let db else { throw CLIError("database is not open") }
        return db
    }

    private func writes(_ b: Benchmark, n: Int, random: Bool, delete: Bool) throws -> BenchResult {
        let db = try require()
        let cfg = self.cfg
        let values = self.values
        let writers = cfg.txnWriters
        let nextWriter = Atomic<Int>(0)
        let (stats, secs) = try BenchThreads.run(seeds: seeds(writers)) { s in
            // Writer t takes indices [t*n/W, (t+1)*n/W).
            let t = nextWriter.add(1, ordering: .relaxed).oldValue
            let lo = t * n / writers, hi = (t + 1) * n / writers
            try WorkloadLoops.write(db, cfg, values, &s, n: hi - lo, offset: lo, random: random, delete: delete)
        }
        return summarize(b, stats, secs, threads: writers, requested: nil)
    }

    private func reads(_ b: Benchmark, _ body: @escaping @Sendable (DB, inout ThreadStats) throws -> Void)
        throws -> BenchResult
    {
        let db = try require()
        let (stats, secs) = try BenchThreads.run(seeds: seeds(cfg.threads)) { s in try body(db, &s) }
        return summarize(b, stats, secs, threads: cfg.threads, requested: cfg.reads * cfg.threads)
    }

    /// `--threads` readers doing readrandom while one unthrottled writer overwrites random
    /// keys; only the readers' ops are reported.
    private func readWhileWriting() throws -> BenchResult {
        let db = try require()
        let cfg = self.cfg
        let values = self.values
        let stop = StopFlag()
        let join = BenchThreads.background(seed: seeds(1)[0]) { s in
            try WorkloadLoops.write(db, cfg, values, &s, n: Int.max, random: true, delete: false, stop: stop)
        }
        let result: BenchResult
        do {
            result = try reads(.readwhilewriting) { db, s in
                try WorkloadLoops.readRandom(db, cfg, &s, n: cfg.reads, offset: 0)
            }
        } catch {
            stop.set()
            try? join()
            throw error
        }
        stop.set()
        try join()
        return result
    }

    private func summarize(_ b: Benchmark, _ stats: [ThreadStats], _ seconds: Double, threads: Int,
                           requested: Int?) -> BenchResult {
        var hist = LatencyHistogram()
        var r = BenchResult(name: b.rawValue, ops: 0, seconds: seconds, threads: threads, bytes: 0)
        var found = 0
        for s in stats {
            r.ops += s.ops
            r.bytes += s.bytes
            found += s.found
            hist.merge(s.histogram)
        }
        if let requested {
            r.found = found
            r.requested = requested
        }
        r.p50us = hist.percentileMicros(0.50)
        r.p99us = hist.percentileMicros(0.99)
        return r
    }
}

/// Reported in the bench header and `sett --version`.
let settVersion = "0.1.0"
