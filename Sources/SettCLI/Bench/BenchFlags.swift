import ArgumentParser
import Logging
import Sett

/// One db_bench benchmark name `sett bench` understands. Semantics follow
/// /work/shared/bench/README.md (the contract `compare` drives).
enum Benchmark: String, CaseIterable, Sendable {
    case fillseq, fillrandom, overwrite, fillsync, deleteseq, deleterandom
    case readrandom, readmissing, readseq, readreverse, seekrandom, readwhilewriting
    case compact

    /// Starts from an empty database (closes, wipes and reopens it first).
    var isFill: Bool { self == .fillseq || self == .fillrandom || self == .fillsync }

    /// Reports `(found F of R)` and runs on `--threads` reader threads.
    var isRead: Bool {
        switch self {
        case .readrandom, .readmissing, .readseq, .readreverse, .seekrandom, .readwhilewriting: true
        default: false
        }
    }
}

/// A db_bench-style boolean: `--sync=1`, `--sync=0`, `--sync=true`, `--sync=false`.
struct BenchBool: ExpressibleByArgument, Equatable, Sendable, CustomStringConvertible {
    var value: Bool

    init(_ value: Bool) { self.value = value }

    init?(argument: String) {
        switch argument.lowercased() {
        case "1", "true", "yes", "on": value = true
        case "0", "false", "no", "off": value = false
        default: return nil
        }
    }

    var description: String { value ? "1" : "0" }
    var defaultValueDescription: String { description }
}

/// Everything one `sett bench` invocation was asked to do, validated.
/// A plain value: the workloads read it from any thread.
struct BenchConfig: Sendable, Equatable {
    var db: String
    var benchmarks: [Benchmark]
    var num: Int
    /// Reads per reader thread (`--reads`, or `--num` when not given / negative).
    var reads: Int
    var keySize: Int
    var valueSize: Int
    var batchSize: Int
    var sync: Bool
    var threads: Int
    var useExistingDB: Bool
    var seed: UInt64
    var compression: Compression
    /// Sett-only tuning; nil keeps the `Options` default.
    var valueThreshold: Int?
    var blockCacheMB: Int?
    var memtableMB: Int?
    var numCompactors: Int?
    /// Concurrent writer threads in write benchmarks (each one transaction per put when
    /// `batchSize` is 1).
    var txnWriters: Int = 1

    /// The engine options for this run; `sync` is separate because `fillsync` forces it.
    func options(syncWrites: Bool) -> Options {
        var o = Options(dir: db)
        o.syncWrites = syncWrites
        o.compression = compression
        if let valueThreshold { o.valueThreshold = valueThreshold }
        if let blockCacheMB { o.blockCacheSize = blockCacheMB << 20 }
        if let memtableMB { o.memTableSize = memtableMB << 20 }
        if let numCompactors { o.numCompactors = numCompactors }
        o.logger.logLevel = .warning
        return o
    }
}

/// `sett bench`: flags exactly as db_bench spells them (`--flag=value`).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "db_bench-compatible benchmarks (the candidate that shared/bench/compare drives).",
        discussion: """
            Benchmarks: \(Benchmark.allCases.map(\.rawValue).joined(separator: ", ")).
            Prints one db_bench line per benchmark, `(found F of R)` after reads, then one
            `RESULT {json}` line per benchmark after all of them.
            """
    )

    @Option(name: .customLong("db"), help: "Database directory.")
    var db: String = "/tmp/sett-bench"

    @Option(name: .customLong("benchmarks"), help: "Comma-separated benchmark names, run in order.")
    var benchmarks: String = "fillseq,readrandom"

    @Option(name: .customLong("num"), help: "Number of keys (writes per write benchmark).")
    var num: Int = 1_000_000

    @Option(name: .customLong("reads"), help: "Ops per reader thread (negative: --num).")
    var reads: Int = -1

    @Option(name: .customLong("key_size"), help: "Key size in bytes (zero-padded decimal).")
    var keySize: Int = 16

    @Option(name: .customLong("value_size"), help: "Value size in bytes.")
    var valueSize: Int = 100

    @Option(name: .customLong("batch_size"), help: "Entries per write batch (one version each).")
    var batchSize: Int = 1

    @Option(name: .customLong("sync"), help: "fsync every write batch (0|1).")
    var sync: BenchBool = BenchBool(false)

    @Option(name: .customLong("threads"), help: "Reader threads; writes are single-threaded.")
    var threads: Int = 1

    @Option(name: .customLong("txn_writers"),
            help: "Concurrent writer threads in write benchmarks (with --batch_size 1: one transaction per put each).")
    var txnWriters: Int = 1

    @Option(name: .customLong("use_existing_db"), help: "Keep the database instead of wiping --db first (0|1).")
    var useExistingDB: BenchBool = BenchBool(false)

    @Option(name: .customLong("seed"), help: "Seed of the key-index generators.")
    var seed: Int = 301

    @Option(name: [.customLong("compression_type"), .customLong("compression")],
            help: "Table block compression: none|snappy|zstd|lz4.")
    var compression: String = "snappy"

    @Option(name: .customLong("value_threshold"), help: "Sett: values of at least this many bytes go to the value log.")
    var valueThreshold: Int?

    @Option(name: .customLong("block_cache_mb"), help: "Sett: block cache size in MiB (0 disables it).")
    var blockCacheMB: Int?

    @Option(name: .customLong("memtable_mb"), help: "Sett: memtable size in MiB.")
    var memtableMB: Int?

    @Option(name: .customLong("num_compactors"), help: "Sett: background compaction threads.")
    var numCompactors: Int?

    init() {}

    /// Validates the flags into a `BenchConfig`.
    func config() throws -> BenchConfig {
        guard num >= 1, keySize >= 1, batchSize >= 1, threads >= 1, txnWriters >= 1 else {
            throw ValidationError("--num, --key_size, --batch_size, --threads and --txn_writers must be >= 1")
        }
        guard valueSize >= 0 else { throw ValidationError("--value_size must not be negative") }
        if keySize < 19 {
            var limit = 1
            for _ in 0 ..< keySize { limit *= 10 }
            if 2 * num > limit {
                throw ValidationError("--key_size=\(keySize) is too small for 2*--num decimal keys")
            }
        }
        guard let comp = Compression(name: compression) else {
            throw ValidationError("unknown --compression_type '\(compression)' (none|snappy|zstd|lz4)")
        }
        var names: [Benchmark] = []
        for raw in benchmarks.split(separator: ",") {
            let name = raw.benchTrimmed()
            if name.isEmpty { continue }
            guard let b = Benchmark(rawValue: name) else { throw ValidationError("unknown benchmark '\(name)'") }
            if useExistingDB.value && b.isFill {
                throw ValidationError("\(name): cannot be used with --use_existing_db")
            }
            names.append(b)
        }
        for (flag, v) in [("value_threshold", valueThreshold), ("block_cache_mb", blockCacheMB),
                          ("memtable_mb", memtableMB), ("num_compactors", numCompactors)] {
            if let v, v < 0 { throw ValidationError("--\(flag) must not be negative") }
        }
        return BenchConfig(
            db: db, benchmarks: names, num: num, reads: reads < 0 ? num : reads,
            keySize: keySize, valueSize: valueSize, batchSize: batchSize, sync: sync.value,
            threads: threads, useExistingDB: useExistingDB.value, seed: UInt64(bitPattern: Int64(seed)),
            compression: comp, valueThreshold: valueThreshold, blockCacheMB: blockCacheMB,
            memtableMB: memtableMB, numCompactors: numCompactors, txnWriters: txnWriters)
    }

    func run() throws {
        let cfg = try config()
        try BenchRunner(cfg).run()
    }
}

extension Substring {
    /// Without leading and trailing blanks.
    func benchTrimmed(_ set: String = " \t") -> String {
        var s = self[...]
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
