import Testing
@testable import Sett
@testable import SettCLI

/// `sett bench` accepts exactly the command line shared/bench/compare builds.
@Suite struct BenchFlagsTests {
    /// The argv `compare` appends (README "Contract for the candidate command").
    static let contract = [
        "--db=/tmp/kvbench-x", "--benchmarks=fillrandom,readrandom", "--num=5000", "--key_size=16",
        "--value_size=100", "--batch_size=10", "--sync=1", "--threads=2", "--use_existing_db=0", "--seed=7",
        "--reads=300", "--compression_type=zstd",
    ]

    @Test func compareCommandLineParsesIntoConfig() throws {
        let cfg = try BenchCommand.parse(Self.contract).config()
        #expect(cfg == BenchConfig(
            db: "/tmp/kvbench-x", benchmarks: [.fillrandom, .readrandom], num: 5000, reads: 300, keySize: 16,
            valueSize: 100, batchSize: 10, sync: true, threads: 2, useExistingDB: false, seed: 7,
            compression: .zstd, valueThreshold: nil, blockCacheMB: nil, memtableMB: nil, numCompactors: nil))
    }

    @Test func benchIsASubcommandOfSett() throws {
        let cmd = try SettCommand.parseAsRoot(["bench"] + Self.contract)
        #expect(cmd is BenchCommand)
    }

    @Test func defaultsFollowDbBench() throws {
        let cfg = try BenchCommand.parse([]).config()
        #expect(cfg.num == 1_000_000 && cfg.reads == 1_000_000)
        #expect(cfg.keySize == 16 && cfg.valueSize == 100 && cfg.batchSize == 1 && cfg.threads == 1)
        #expect(!cfg.sync && !cfg.useExistingDB && cfg.seed == 301 && cfg.compression == .snappy)
        #expect(cfg.benchmarks == [.fillseq, .readrandom])
    }

    @Test func negativeReadsMeanNum() throws {
        let cfg = try BenchCommand.parse(["--num=42", "--reads=-1"]).config()
        #expect(cfg.reads == 42)
    }

    @Test func compressionAliasAndLz4() throws {
        #expect(try BenchCommand.parse(["--compression=lz4"]).config().compression == .lz4)
        #expect(try BenchCommand.parse(["--compression_type=none"]).config().compression == Compression.none)
        #expect(throws: (any Error).self) { try BenchCommand.parse(["--compression_type=brotli"]).config() }
    }

    @Test func booleansAcceptZeroOneAndWords() throws {
        #expect(try BenchCommand.parse(["--sync=true"]).config().sync)
        #expect(try !BenchCommand.parse(["--sync=0"]).config().sync)
        #expect(try BenchCommand.parse(["--use_existing_db=1", "--benchmarks=readrandom"]).config().useExistingDB)
        #expect(throws: (any Error).self) { try BenchCommand.parse(["--sync=2"]) }
    }

    @Test func settOnlyTuningFlagsReachOptions() throws {
        let cfg = try BenchCommand.parse([
            "--value_threshold=64", "--block_cache_mb=8", "--memtable_mb=16", "--num_compactors=2",
        ]).config()
        let o = cfg.options(syncWrites: true)
        #expect(o.valueThreshold == 64 && o.blockCacheSize == 8 << 20 && o.memTableSize == 16 << 20)
        #expect(o.numCompactors == 2 && o.syncWrites && o.compression == .snappy && o.dir == cfg.db)
        let untouched = try BenchCommand.parse([]).config().options(syncWrites: false)
        let defaults = Options(dir: "x")
        #expect(untouched.valueThreshold == defaults.valueThreshold)
        #expect(untouched.blockCacheSize == defaults.blockCacheSize)
    }

    @Test func everyBenchmarkNameIsKnownAndBlanksAreSkipped() throws {
        let all = Benchmark.allCases.map(\.rawValue).joined(separator: ", ")
        let cfg = try BenchCommand.parse(["--benchmarks=\(all),"]).config()
        #expect(cfg.benchmarks == Benchmark.allCases)
        #expect(Benchmark.allCases.count == 13)
    }

    /// deleteseq deletes every key fillseq wrote: a scan afterwards finds none, while
    /// deleterandom (random keys, with repeats) leaves some.
    @Test func deleteseqDeletesEveryKey() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let cfg = try BenchCommand.parse(["--db=\(dir.path)", "--benchmarks=fillseq,deleteseq,readseq", "--num=2000",
                                          "--batch_size=100"]).config()
        let results = try BenchRunner(cfg).run()
        #expect(results.map(\.name) == ["fillseq", "deleteseq", "readseq"])
        #expect(results[1].ops == 2000)
        #expect(results[2].found == 0)
    }

    @Test func unknownBenchmarkIsRefused() {
        #expect(throws: (any Error).self) { try BenchCommand.parse(["--benchmarks=fillseq,readhot"]).config() }
    }

    @Test func fillWithExistingDatabaseIsRefused() {
        #expect(throws: (any Error).self) {
            try BenchCommand.parse(["--benchmarks=fillseq", "--use_existing_db=1"]).config()
        }
    }

    @Test func keySizeTooSmallForTwiceNumIsRefused() throws {
        #expect(throws: (any Error).self) { try BenchCommand.parse(["--key_size=4", "--num=5001"]).config() }
        #expect(try BenchCommand.parse(["--key_size=4", "--num=5000"]).config().keySize == 4)
        #expect(try BenchCommand.parse(["--key_size=24", "--num=5000"]).config().keySize == 24)
    }

    @Test func nonPositiveSizesAreRefused() {
        for bad in ["--num=0", "--key_size=0", "--batch_size=0", "--threads=0", "--value_size=-1", "--memtable_mb=-1"] {
            #expect(throws: (any Error).self, "\(bad)") { try BenchCommand.parse([bad]).config() }
        }
    }
}
