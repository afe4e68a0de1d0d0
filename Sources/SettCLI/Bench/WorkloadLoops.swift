import Foundation
import Sett
import Synchronization

/// What one benchmark thread measured. Each thread owns its own (a local `var` in the
/// hot loop, so counters and the histogram stay in registers/cache, no sharing).
struct ThreadStats: Sendable {
    var ops = 0
    var found = 0
    var bytes = 0
    var histogram = LatencyHistogram()
    var rng: BenchRandom

    init(seed: UInt64) { rng = BenchRandom(seed: seed) }

    /// Ends an op (or a batch of `n` entries) started at `start` (BenchSystem.nanos()).
    @inline(__always)
    mutating func end(_ start: UInt64, _ n: Int) {
        histogram.record(BenchSystem.nanos() &- start)
        ops += n
    }
}

/// Tells the background writer of `readwhilewriting` to stop. Thread-safe.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .releasing) }
    var isSet: Bool { flag.load(ordering: .acquiring) }
}

/// The per-thread benchmark loops. Stateless: everything comes in as arguments.
enum WorkloadLoops {
    /// Puts (or deletes) `n` keys, indices offset..<offset+n in order or uniform in [0, num) when
    /// `random`, the way the Badger peer does: batch size 1 = one `update` transaction
    /// per put; larger = a `WriteBatch` of `batchSize` entries, then `flush()`.
    /// Latency is recorded per transaction / per flushed batch.
    /// `values` is taken by value, so every call starts at the generator's first value.
    static func write(_ db: DB, _ cfg: BenchConfig, _ values: ValueGenerator,
                      _ s: inout ThreadStats, n: Int, offset: Int = 0, random: Bool, delete: Bool,
                      stop: StopFlag? = nil) throws {
        var gen = values
        var key = [UInt8](repeating: 0, count: cfg.keySize)
        let b = cfg.batchSize
        var i = 0
        while i < n {
            if let stop, stop.isSet { return }
            let m = min(b, n - i)
            let t0 = BenchSystem.nanos()
            if b == 1 {
                BenchKeys.fill(&key, random ? s.rng.index(below: cfg.num) : offset + i)
                let v = delete ? [] : Array(gen.next())
                try db.update { txn in
                    if delete { try txn.delete(key) } else { try txn.set(key, v) }
                }
            } else {
                let wb = try db.newWriteBatch()
                for j in 0 ..< m {
                    BenchKeys.fill(&key, random ? s.rng.index(below: cfg.num) : offset + i + j)
                    if delete { try wb.delete(key) } else { try wb.set(key, Array(gen.next())) }
                }
                try wb.flush()
            }
            s.end(t0, m)
            s.bytes += m * (delete ? cfg.keySize : cfg.keySize + cfg.valueSize)
            i += m
        }
    }

    /// `n` point reads of uniform random keys in [offset, offset + num), at the newest version.
    static func readRandom(_ db: DB, _ cfg: BenchConfig, _ s: inout ThreadStats, n: Int, offset: Int) throws {
        var key = [UInt8](repeating: 0, count: cfg.keySize)
        for _ in 0 ..< n {
            BenchKeys.fill(&key, offset + s.rng.index(below: cfg.num))
            let t0 = BenchSystem.nanos()
            if let v = try db.get(key) {
                s.found += 1
                s.bytes += cfg.keySize + v.value.count
            }
            s.end(t0, 1)
        }
    }

    /// Iterates up to `n` entries from the first (or last) key, reading each value.
    static func readSeq(_ db: DB, _ s: inout ThreadStats, n: Int, reverse: Bool) throws {
        let it = db.makeIterator(reverse: reverse)
        it.rewind()
        while it.valid && s.ops < n {
            let t0 = BenchSystem.nanos()
            let valueCount = try it.withValue { $0.count }
            let keyCount = it.withKey { $0.count }
            s.found += 1
            s.bytes += keyCount + valueCount
            s.end(t0, 1)
            it.next()
        }
        if let e = it.error { throw e }
    }

    /// `n` times: seek to a random key in [0, num), then read up to 10 entries from there
    /// (db_bench `--seek_nexts=10`). Found = the seek landed on exactly that key.
    static func seekRandom(_ db: DB, _ cfg: BenchConfig, _ s: inout ThreadStats, n: Int) throws {
        let it = db.makeIterator()
        var key = [UInt8](repeating: 0, count: cfg.keySize)
        for _ in 0 ..< n {
            BenchKeys.fill(&key, s.rng.index(below: cfg.num))
            let t0 = BenchSystem.nanos()
            it.seek(key)
            if it.valid {
                let exact = key.withUnsafeBytes { want in it.withKey { $0.elementsEqual(want) } }
                if exact { s.found += 1 }
            }
            var j = 0
            while j < 10 && it.valid {
                let value = try it.value()
                s.bytes += it.withKey { $0.count } + value.count
                it.next()
                j += 1
            }
            s.end(t0, 1)
        }
        if let e = it.error { throw e }
    }
}

/// Runs benchmark bodies on real threads (Foundation `Thread`, not Swift concurrency)
/// and collects their stats.
enum BenchThreads {
    private final class Shared: Sendable {
        let results: Mutex<[ThreadStats?]>
        let failure = Mutex<(any Error)?>(nil)
        let done = DispatchSemaphore(value: 0)
        init(_ n: Int) { results = Mutex([ThreadStats?](repeating: nil, count: n)) }
    }

    /// Runs `body` once per seed, each on its own thread (inline when there is one seed),
    /// timing from before the first start to after the last finish. Rethrows the first
    /// error any thread met, after all have finished.
    static func run(seeds: [UInt64], _ body: @escaping @Sendable (inout ThreadStats) throws -> Void)
        throws -> (stats: [ThreadStats], seconds: Double)
    {
        if seeds.count == 1 {
            var s = ThreadStats(seed: seeds[0])
            let t0 = BenchSystem.nanos()
            try body(&s)
            return ([s], Double(BenchSystem.nanos() - t0) / 1e9)
        }
        let shared = Shared(seeds.count)
        let t0 = BenchSystem.nanos()
        for (i, seed) in seeds.enumerated() {
            spawn(shared, body, seed: seed) { s in shared.results.withLock { $0[i] = s } }
        }
        for _ in seeds { shared.done.wait() }
        let seconds = Double(BenchSystem.nanos() - t0) / 1e9
        if let e = shared.failure.withLock({ $0 }) { throw e }
        return (shared.results.withLock { $0.compactMap { $0 } }, seconds)
    }

    /// Starts `body` on a background thread; call the returned function to wait for it
    /// (it rethrows the thread's error).
    static func background(seed: UInt64, _ body: @escaping @Sendable (inout ThreadStats) throws -> Void)
        -> () throws -> Void
    {
        let shared = Shared(1)
        spawn(shared, body, seed: seed) { _ in }
        return {
            shared.done.wait()
            if let e = shared.failure.withLock({ $0 }) { throw e }
        }
    }

    private static func spawn(_ shared: Shared, _ body: @escaping @Sendable (inout ThreadStats) throws -> Void,
                              seed: UInt64, finish: @escaping @Sendable (ThreadStats) -> Void) {
        let t = Thread {
            var s = ThreadStats(seed: seed)
            do {
                try body(&s)
            } catch {
                shared.failure.withLock { if $0 == nil { $0 = error } }
            }
            finish(s)
            shared.done.signal()
        }
        t.stackSize = 8 << 20
        t.start()
    }
}
