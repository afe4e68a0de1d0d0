import Foundation
import Logging
import Synchronization
import Testing
@testable import Sett

/// Damage to every kind of file the engine keeps, on real files (PosixFileSystem): a
/// flipped byte, a truncation, a zero-filled 4 KiB page, each at a few positions. Each
/// case must end in one of:
/// - an error (at open, or from a read, the commit feed included) naming the damaged file;
/// - a logged repair naming the file (a torn log tail cut off, unreadable discard
///   statistics ignored), after which everything read is a value that was written, and for
///   a WAL exactly the batches before the damage;
/// - no visible effect (the damaged bytes were not needed), all data intact;
/// and never a trap.
@Suite(.serialized) struct FileCorruptionTests {
    final class Logs: @unchecked Sendable {
        let lines = Mutex<[String]>([])
    }

    struct Capture: LogHandler {
        let sink: Logs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .warning
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let md = (event.metadata ?? [:]).map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            sink.lines.withLock { $0.append("\(event.message) \(md)") }
        }
    }

    static let batches = 400

    static func options(_ dir: String, fs: any FileSystem, logs: Logs? = nil) -> Options {
        var o = Options(dir: dir)
        o.fileSystem = fs
        o.managedMode = true
        o.memTableSize = 64 << 10
        o.baseTableSize = 16 << 10
        o.baseLevelSize = 64 << 10
        o.numLevelZeroTables = 2
        o.numLevelZeroTablesStall = 6
        o.blockSize = 1 << 10
        o.valueThreshold = 100
        o.valueLogMaxEntries = 150
        o.numCompactors = 1
        o.feedRetentionBytes = 50 << 10
        o.verifyValueChecksum = true
        o.compression = .snappy
        o.blockCacheSize = 0
        if let logs {
            o.logger = Logger(label: "corruption") { _ in Capture(sink: logs) }
        } else {
            o.logger.logLevel = .critical
        }
        return o
    }

    /// Batch v (version v) writes six keys, each written once: four inline, two in the value log.
    static func batch(_ v: UInt64) -> EntryBatch {
        var b = EntryBatch()
        for j in 0 ..< 6 { b.set(bytes("k\(v)-\(j)"), value(Int(v) * 10 + j, version: v, size: j < 4 ? 40 : 300), version: v) }
        return b
    }

    /// Every key with its value and version, as written.
    static let written: [[UInt8]: (value: [UInt8], version: UInt64)] = {
        var m: [[UInt8]: (value: [UInt8], version: UInt64)] = [:]
        for v in UInt64(1) ... UInt64(batches) {
            for j in 0 ..< 6 { m[bytes("k\(v)-\(j)")] = (value(Int(v) * 10 + j, version: v, size: j < 4 ? 40 : 300), v) }
        }
        return m
    }()

    /// The durable files of a database holding all batches: the first 110 flushed (tables,
    /// retained `.log` segments, a `FEED` floor, `DISCARD`), the last 10 only in a `.wal`.
    static let golden: [String: [UInt8]] = {
        let fs = CrashableFileSystem()
        var o = options("/g", fs: fs)
        let db = try! DB.open(o)
        for v in UInt64(1) ... UInt64(batches - 10) { try! db.write(batch(v)) }
        try! db.close()
        o.syncWrites = true
        let db2 = try! DB.open(o)
        for v in UInt64(batches - 9) ... UInt64(batches) { try! db2.write(batch(v)) }
        let crashed = fs.crashClone()
        try! db2.close()
        var out: [String: [UInt8]] = [:]
        for p in crashed.allPaths where !p.hasSuffix("/LOCK") { out[String(p.dropFirst(3))] = crashed.contents(p)! }
        return out
    }()

    static func materialize() -> TempDir {
        let dir = TempDir("corruption")
        for (name, data) in golden { FileManager.default.createFile(atPath: dir.file(name), contents: Data(data)) }
        return dir
    }

    @Test func theGoldenDirectoryHasEveryFileKindAndReopensIntact() throws {
        let names = Array(Self.golden.keys)
        for suffix in [".wal", ".log", ".vlog", ".sst"] {
            #expect(names.contains { $0.hasSuffix(suffix) }, "no \(suffix) file in \(names.sorted())")
        }
        for name in ["MANIFEST", "DISCARD", "FEED"] { #expect(names.contains(name), "no \(name) in \(names.sorted())") }
        let dir = Self.materialize()
        defer { dir.cleanup() }
        let outcome = try Self.open(dir.path, victim: "none")
        #expect(outcome.error == nil)
        #expect(outcome.seen.count == Self.written.count)
    }

    enum Damage: CustomStringConvertible {
        case flip(Int), truncate(Int), zeroPage(Int)
        var description: String {
            switch self {
            case .flip(let at): "flip byte \(at)"
            case .truncate(let to): "truncate to \(to)"
            case .zeroPage(let at): "zero 4 KiB at \(at)"
            }
        }
        func apply(_ data: inout [UInt8]) {
            switch self {
            case .flip(let at): data[at] ^= 0x5A
            case .truncate(let to): data.removeSubrange(to...)
            case .zeroPage(let at): for i in at ..< min(at + 4096, data.count) { data[i] = 0 }
            }
        }
    }

    static func damages(size: Int) -> [Damage] {
        var d: [Damage] = []
        for at in Set([min(9, size - 1), size / 3, size / 2, size - 1]) { d.append(.flip(at)) }
        for to in Set([size / 2, max(0, size - 1), min(size, 20)]) { d.append(.truncate(to)) }
        for at in Set([0, size / 2 / 4096 * 4096, max(0, size - 100)]) { d.append(.zeroPage(at)) }
        return d
    }

    struct Outcome {
        var error: SettError?
        var atOpen = false
        var seen: [[UInt8]: [UInt8]] = [:]
        var logs: [String] = []
        /// Commit timestamps the feed delivered from `feedOldest` on.
        var feed: [UInt64] = []
        var feedOldest: UInt64 = 0
    }

    /// Opens `dir`, reads everything (iteration, gets, the commit feed) and closes it.
    static func open(_ dir: String, victim: String) throws -> Outcome {
        let logs = Logs()
        var out = Outcome()
        defer { out.logs = logs.lines.withLock { $0 } }
        let db: DB
        do {
            db = try DB.open(options(dir, fs: PosixFileSystem.shared, logs: logs))
        } catch let e as SettError {
            out.error = e
            out.atOpen = true
            out.logs = logs.lines.withLock { $0 }
            return out
        }
        defer { try? db.close() }
        do {
            out.seen = try FaultWorkload.contents(db)
            for k in written.keys { _ = try db.get(k) }
            let oldest = max(1, db.feedOldestTimestamp)
            let feed = try db.makeFeedReader(from: oldest)
            while let b = try feed.next() { out.feed.append(b.commitTs) }
            feed.close()
            out.feedOldest = oldest
        } catch let e as SettError {
            out.error = e
        }
        try? db.close()
        out.logs = logs.lines.withLock { $0 }
        return out
    }

    static func check(kind: String, pick: ([String]) -> String?) throws {
        let names = golden.keys.sorted()
        let victim = try #require(pick(names), "no \(kind) file")
        let size = golden[victim]!.count
        var summary: [String: Int] = [:]
        for damage in damages(size: size) {
            let dir = materialize()
            defer { dir.cleanup() }
            var data = golden[victim]!
            damage.apply(&data)
            FileManager.default.createFile(atPath: dir.file(victim), contents: Data(data))
            let ctx = "\(victim) (\(size) bytes), \(damage)"
            let r = try open(dir.path, victim: victim)
            let logged = r.logs.contains { $0.contains(victim) }
            if let e = r.error {
                // Another file may be named when a logged repair of the victim exposed it
                // (a MANIFEST cut back to a record that lists a table compacted away).
                #expect(e.file?.hasSuffix("/" + victim) == true || logged, "\(ctx): error names another file: \(e)")
                summary["error \(r.atOpen ? "at open" : "on read")", default: 0] += 1
                continue
            }
            let contiguous = r.feed.enumerated().allSatisfy { $0.element == r.feedOldest + UInt64($0.offset) }
            if !contiguous || r.feed.last != UInt64(batches) {
                let last = r.feed.last ?? 0
                #expect(logged, "\(ctx): the feed from \(r.feedOldest) skipped batches silently (\(r.feed.count) delivered, last \(last))")
            }
            let wrong = r.seen.filter { written[$0.key]?.value != $0.value }
            #expect(wrong.isEmpty, "\(ctx): \(wrong.count) keys hold values never written")
            if r.seen.count == written.count {
                summary[logged ? "logged, intact" : "intact"] = (summary[logged ? "logged, intact" : "intact"] ?? 0) + 1
                continue
            }
            #expect(logged, "\(ctx): \(written.count - r.seen.count) keys vanished without an error or a log line")
            if victim.hasSuffix(".wal") {
                // A cut WAL keeps exactly the batches before the damage.
                let kept = r.seen.keys.map { written[$0]!.version }.max() ?? 0
                let expected = written.filter { $0.value.version <= kept || $0.value.version <= UInt64(batches - 10) }
                #expect(r.seen.count == expected.count, "\(ctx): WAL replay kept a non-prefix")
            }
            summary["logged, \(written.count - r.seen.count) keys dropped", default: 0] += 1
        }
        print("corruption of \(victim): \(summary.sorted { $0.key < $1.key })")
    }

    @Test func damagedWAL() throws { try Self.check(kind: "wal") { $0.first { $0.hasSuffix(".wal") } } }
    @Test func damagedRetainedFeedSegment() throws { try Self.check(kind: "log") { $0.first { $0.hasSuffix(".log") } } }
    @Test func damagedOldestValueLog() throws { try Self.check(kind: "vlog") { $0.first { $0.hasSuffix(".vlog") } } }
    @Test func damagedNewestValueLog() throws { try Self.check(kind: "vlog") { $0.last { $0.hasSuffix(".vlog") } } }
    @Test func damagedFirstTable() throws { try Self.check(kind: "sst") { $0.first { $0.hasSuffix(".sst") } } }
    @Test func damagedLastTable() throws { try Self.check(kind: "sst") { $0.last { $0.hasSuffix(".sst") } } }
    @Test func damagedManifest() throws { try Self.check(kind: "MANIFEST") { $0.first { $0 == "MANIFEST" } } }
    @Test func damagedDiscardStats() throws { try Self.check(kind: "DISCARD") { $0.first { $0 == "DISCARD" } } }
    @Test func damagedFeedState() throws { try Self.check(kind: "FEED") { $0.first { $0 == "FEED" } } }
}
