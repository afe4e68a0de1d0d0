import ArgumentParser
import Sett
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A child process for the kill torture test (Tests/SettTests/KillTortureTests.swift):
/// random read-write transactions with `syncWrites` on, from `--threads` threads, until
/// killed (or `--txns` commits). Prints `ack <commitTs> <tag>` after each acknowledged
/// commit.
///
/// Every transaction has a random 64-bit tag and writes (see `Torture`):
/// - 1...6 keys of a pool of 200 (`k000`...), each a set whose value starts with
///   `<tag>:<key>:` (some large enough for the value log) or a delete;
/// - the marker key `txn/<tag>` whose value lists the keys it wrote (`+key` set,
///   `-key` delete), so a verifier can check from the database alone that each
///   transaction is all-or-nothing, and from the acks that none acknowledged is lost.
struct TortureWriterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "torture-writer", abstract: "Test helper: synced random transactions until killed.",
        shouldDisplay: false)

    @Option(help: "Database directory.") var dir: String
    @Option(help: "Random seed (0 = from the clock).") var seed: UInt64 = 0
    @Option(help: "Writer threads.") var threads: Int = 2
    @Option(help: "Stop after this many commits in total (0 = never).") var txns: Int = 0
    @Option(name: .customLong("gc-interval-ms"), help: "Run value-log GC this often (0 = never).")
    var gcIntervalMs: Int = 20

    func run() throws {
        let db = try DB.open(Torture.options(dir: dir))
        let shared = TortureShared()
        let base = seed == 0 ? UInt64(time(nil)) &* 0x9E37_79B9_7F4A_7C15 : seed
        let limit = txns
        let workers = (0 ..< max(1, threads)).map { t in
            ThreadBox {
                var rng = TortureRandom(seed: base &+ UInt64(t) &* 0xD1B5_4A32_D192_ED03)
                while limit == 0 || shared.committed.load(ordering: .relaxed) < limit {
                    do {
                        let (ts, tag) = try Torture.commitOne(db, &rng)
                        shared.printLock.withLock { _ in
                            print("ack \(ts) \(String(tag, radix: 16))")
                            fflush(nil)
                        }
                        shared.committed.add(1, ordering: .relaxed)
                    } catch let e as SettError where e.code == .conflict {
                        continue
                    } catch {
                        shared.failure.withLock { $0 = "\(error)" }
                        return
                    }
                }
            }
        }
        let gc = gcIntervalMs > 0 ? ThreadBox { [gcIntervalMs] in Torture.collectGarbage(db, shared, everyMs: gcIntervalMs) } : nil
        for w in workers { w.join() }
        shared.stopped.store(true, ordering: .relaxed)
        gc?.join()
        if let f = shared.failure.withLock({ $0 }) { throw ValidationError("torture writer failed: \(f)") }
        try db.close()
    }
}

final class TortureShared: Sendable {
    let printLock = Mutex(())
    let committed = Atomic<Int>(0)
    let failure = Mutex<String?>(nil)
    let stopped = Atomic<Bool>(false)
}

/// The workload and its invariants, shared by the writer and the verifier.
public enum Torture {
    public static let keyCount = 200

    /// Small memtables and tables (frequent flushes and compactions), values over 64
    /// bytes in the value log (200 per file, so GC has files to take), feed segments
    /// retained only briefly.
    public static func options(dir: String) -> Options {
        var o = Options(dir: dir)
        o.syncWrites = true
        o.memTableSize = 1 << 16
        o.baseTableSize = 8 << 10
        o.baseLevelSize = 32 << 10
        o.numLevelZeroTables = 2
        o.numLevelZeroTablesStall = 8
        o.blockSize = 1 << 10
        o.valueThreshold = 64
        o.valueLogFileSize = 1 << 20
        o.valueLogMaxEntries = 200
        o.numCompactors = 2
        o.feedRetentionBytes = 256 << 10
        o.logger.logLevel = .error
        return o
    }

    public static func key(_ i: Int) -> [UInt8] {
        let s = String(i)
        return Array(("k" + String(repeating: "0", count: 3 - s.count) + s).utf8)
    }

    public static func markerKey(_ tag: UInt64) -> [UInt8] { Array("txn/\(String(tag, radix: 16))".utf8) }

    /// The value a transaction tagged `tag` writes to `key`: `<tag>:<key>:` then padding.
    public static func value(tag: UInt64, key: [UInt8], size: Int) -> [UInt8] {
        var v = Array("\(String(tag, radix: 16)):".utf8) + key + [UInt8(ascii: ":")]
        var x = tag ^ UInt64(size)
        while v.count < size {
            x = x &* 6364136223846793005 &+ 1442695040888963407
            v.append(UInt8(97 + (x >> 33) % 26))
        }
        return v
    }

    /// The tag a stored value names (nil if the value has no tag prefix).
    public static func tag(of value: [UInt8]) -> UInt64? {
        guard let colon = value.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        return UInt64(String(decoding: value[..<colon], as: UTF8.self), radix: 16)
    }

    /// Parses a marker value into (key, isSet) pairs.
    public static func parseMarker(_ value: [UInt8]) -> [(key: [UInt8], isSet: Bool)] {
        value.split(separator: UInt8(ascii: " ")).compactMap { part in
            guard let first = part.first else { return nil }
            return (Array(part.dropFirst()), first == UInt8(ascii: "+"))
        }
    }

    /// Value-log GC every `everyMs` until the writers stop (a kill may land mid-GC).
    static func collectGarbage(_ db: DB, _ shared: TortureShared, everyMs: Int) {
        while !shared.stopped.load(ordering: .relaxed) {
            do {
                _ = try db.runValueLogGC(discardRatio: 0.3)
            } catch let e as SettError where e.code == .conflict {
                // A version became visible mid-collection; the file stays.
            } catch {
                shared.failure.withLock { $0 = "value-log GC: \(error)" }
                return
            }
            usleep(useconds_t(everyMs * 1000))
        }
    }

    /// One transaction: reads a key (for conflicts), writes 1...6 keys and the marker.
    static func commitOne(_ db: DB, _ rng: inout TortureRandom) throws -> (UInt64, UInt64) {
        let tag = rng.next() | 1
        let txn = try db.newTransaction(update: true)
        defer { txn.discard() }
        _ = try txn.get(key(Int(rng.next() % UInt64(keyCount))))
        var marker: [String] = []
        var used = Set<Int>()
        for _ in 0 ..< 1 + Int(rng.next() % 6) {
            let i = Int(rng.next() % UInt64(keyCount))
            guard used.insert(i).inserted else { continue }
            let k = key(i)
            if rng.next() % 5 == 0 {
                try txn.delete(k)
                marker.append("-" + String(decoding: k, as: UTF8.self))
            } else {
                let size = rng.next() % 4 == 0 ? 100 + Int(rng.next() % 900) : 24 + Int(rng.next() % 30)
                try txn.set(k, value(tag: tag, key: k, size: size))
                marker.append("+" + String(decoding: k, as: UTF8.self))
            }
        }
        try txn.set(markerKey(tag), Array(marker.joined(separator: " ").utf8))
        try txn.commit()
        return (txn.commitTs, tag)
    }
}

typealias TortureRandom = SplitMix64

/// A joinable thread running a closure.
final class ThreadBox: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: () -> Void

    init(_ body: @escaping () -> Void) {
        self.body = body
        let unmanaged = Unmanaged.passRetained(self)
        pthread_create(&thread, nil, { arg in
            let box = Unmanaged<ThreadBox>.fromOpaque(arg!).takeRetainedValue()
            box.body()
            return nil
        }, unmanaged.toOpaque())
    }

    func join() { pthread_join(thread, nil) }
}
