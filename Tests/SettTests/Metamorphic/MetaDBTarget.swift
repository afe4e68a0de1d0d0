import Foundation
@testable import Sett

/// One option set of the metamorphic test. `follower` configurations write to a primary
/// opened with `options` and read from a managed-mode follower (opened with
/// `followerOptions`) fed batch by batch from the primary's commit feed.
struct MetaConfig: Sendable {
    var name: String
    var options: @Sendable (String) -> Options
    var followerOptions: (@Sendable (String) -> Options)?
    /// Runs on a `CrashableFileSystem`, so a `crash` op reopens on a crash clone (the
    /// durable state plus random torn tails). Only for `syncWrites` configurations,
    /// where a crash must lose nothing acknowledged; elsewhere `crash` is a reopen.
    var crashable = false

    /// Every configuration keeps all versions above a deletion (see
    /// `metaCanonicalAllVersions`) and logs only errors.
    static func base(_ dir: String) -> Options {
        var o = Options(dir: dir)
        o.numVersionsToKeep = 1_000_000
        o.memTableSize = 4 << 20
        o.numCompactors = 1
        o.blockCacheSize = 1 << 20
        o.logger.logLevel = .error
        return o
    }

    /// 64 KiB memtables, 2 KiB tables, one L0 table per compaction: constant flushing
    /// and compaction.
    static func tiny(_ dir: String) -> Options {
        var o = base(dir)
        o.memTableSize = 1 << 16
        o.baseTableSize = 2 << 10
        o.baseLevelSize = 8 << 10
        o.blockSize = 256
        o.numLevelZeroTables = 1
        o.numLevelZeroTablesStall = 4
        o.levelSizeMultiplier = 2
        return o
    }

    static let all: [MetaConfig] = [
        MetaConfig(name: "default-snappy", options: { base($0) }),
        MetaConfig(name: "tiny-none-vt0-sync", options: {
            var o = tiny($0)
            o.compression = .none
            o.valueThreshold = 0
            o.syncWrites = true
            o.blockCacheSize = 0
            return o
        }),
        MetaConfig(name: "tiny-zstd-vtmax", options: {
            var o = tiny($0)
            o.compression = .zstd
            o.valueThreshold = o.memTableSize / 4
            o.checksumVerificationMode = .onTableAndBlockRead
            return o
        }),
        MetaConfig(name: "tiny-lz4-vt100-sync", options: {
            var o = tiny($0)
            o.compression = .lz4
            o.valueThreshold = 100
            o.syncWrites = true
            o.valueLogFileSize = 1 << 20
            o.valueLogMaxEntries = 40
            o.bloomFalsePositive = 0
            o.verifyValueChecksum = true
            return o
        }, crashable: true),
        MetaConfig(name: "tiny-snappy-follower", options: { base($0) }, followerOptions: {
            var o = tiny($0)
            o.managedMode = true
            o.valueThreshold = 64
            return o
        }),
    ]
}

/// Runs ops against a real database (or a primary/follower pair) in a temp directory.
final class MetaDBTarget: MetaTarget {
    let config: MetaConfig
    let root: TempDir
    var db: DB
    var follower: DB?
    var reader: FeedReader?
    /// Open snapshots: a read transaction (on the follower: its read timestamp).
    var snapshots: [Int: Txn] = [:]
    var followerSnapshots: [Int: UInt64] = [:]
    var lastTs: UInt64 = 0
    /// The file system of a crashable configuration.
    var crashFS: CrashableFileSystem?
    var crashes: UInt64 = 0

    init(_ config: MetaConfig) throws {
        self.config = config
        root = TempDir("meta-" + config.name)
        var o = config.options(root.path + "/primary")
        if config.crashable {
            let fs = CrashableFileSystem()
            crashFS = fs
            o.fileSystem = fs
        }
        db = try DB.open(o)
        if let fo = config.followerOptions {
            follower = try DB.open(fo(root.path + "/follower"))
            reader = try db.makeFeedReader(from: 1)
        }
    }

    func close() {
        if ProcessInfo.processInfo.environment["SETT_META_VERBOSE"] != nil {
            print("[\(config.name)] primary: \(db.stats())".replacingOccurrences(of: "\n", with: " | "))
            if let follower { print("[\(config.name)] follower: \(follower.stats())".replacingOccurrences(of: "\n", with: " | ")) }
        }
        for t in snapshots.values { t.discard() }
        snapshots.removeAll()
        reader?.close()
        try? follower?.close()
        try? db.close()
        root.cleanup()
    }

    /// The database reads go to.
    var readDB: DB { follower ?? db }

    /// Applies every batch the primary committed so far to the follower.
    func catchUp() throws {
        guard let follower, let reader else { return }
        while let b = try reader.next(timeout: 0) { try follower.write(b.makeEntryBatch()) }
    }

    func text(_ item: Item, keysOnly: Bool) throws -> String {
        metaItemText(key: String(decoding: item.key, as: UTF8.self), version: item.version, userMeta: item.userMeta,
                     expiresAt: item.expiresAt, value: keysOnly ? nil : try item.value())
    }

    func iterate(_ txn: Txn, _ spec: MetaIter) throws -> String {
        let since = spec.sinceBack.map { lastTs >= UInt64($0) ? lastTs - UInt64($0) : 0 } ?? 0
        let it = txn.makeIterator(IteratorOptions(reverse: spec.reverse, allVersions: spec.allVersions,
                                                  prefix: Array(spec.prefix.utf8), sinceTs: since,
                                                  keysOnly: spec.keysOnly))
        if let seek = spec.seek { it.seek(Array(seek.utf8)) } else { it.rewind() }
        var out: [String] = []
        var all: [(key: String, version: UInt64, live: Bool, text: String)] = []
        while let item = it.item {
            if spec.allVersions {
                all.append((String(decoding: item.key, as: UTF8.self), item.version, !item.isDeletedOrExpired,
                            try text(item, keysOnly: spec.keysOnly)))
            } else {
                if out.count >= spec.limit { break }
                out.append(try text(item, keysOnly: spec.keysOnly))
            }
            it.next()
        }
        if let e = it.error { throw e }
        return spec.allVersions ? "all" + metaCanonicalAllVersions(all) : "[" + out.joined(separator: " ") + "]"
    }

    func get(_ txn: Txn, _ key: String) throws -> String {
        guard let item = try txn.get(Array(key.utf8)) else { return "nil" }
        return try text(item, keysOnly: false)
    }

    /// A simulated power loss: the database continues on a crash clone of its file
    /// system, taken while it runs (a clean reopen for configurations that are not
    /// crashable).
    func crash() throws {
        guard let fs = crashFS else { return try reopen() }
        for t in snapshots.values { t.discard() }
        snapshots.removeAll()
        crashes += 1
        let clone = fs.crashClone(seed: crashes &* 0x9E37_79B9_7F4A_7C15)
        try? db.close()   // the abandoned instance only touches the old file system
        crashFS = clone
        var o = config.options(root.path + "/primary")
        o.fileSystem = clone
        db = try DB.open(o)
        lastTs = db.maxVersion
    }

    func reopen() throws {
        for t in snapshots.values { t.discard() }
        snapshots.removeAll()
        followerSnapshots.removeAll()
        reader?.close()
        reader = nil
        try db.close()
        var o = config.options(root.path + "/primary")
        if let crashFS { o.fileSystem = crashFS }
        db = try DB.open(o)
        lastTs = db.maxVersion
        if let fo = config.followerOptions {
            try follower?.close()
            let f = try DB.open(fo(root.path + "/follower"))
            follower = f
            reader = try db.makeFeedReader(from: f.maxVersion + 1)
        }
    }

    /// A read transaction at snapshot `slot` (nil: none open).
    func snapshotTxn(_ slot: Int) throws -> Txn? {
        if let follower {
            guard let ts = followerSnapshots[slot] else { return nil }
            return try follower.newTransaction(readTs: ts, update: false)
        }
        return snapshots[slot]
    }

    func run(_ op: MetaOp) throws -> [String] {
        try catchUp()
        switch op {
        case let .txn(steps):
            let txn = try db.newTransaction(update: true)
            defer { txn.discard() }
            var lines: [String] = []
            for s in steps {
                switch s {
                case let .set(k, size, seed, ttl, um):
                    var e = Entry(key: Array(k.utf8), value: metaValue(size: size, seed: seed))
                    e.userMeta = um
                    e.expiresAt = ttl.expiresAt
                    try txn.set(e)
                case let .delete(k):
                    try txn.delete(Array(k.utf8))
                case let .get(k):
                    lines.append("txn get \(k) -> " + (try get(txn, k)))
                case let .iterate(spec):
                    lines.append("txn iterate -> " + (try iterate(txn, spec)))
                }
            }
            try txn.commit()
            lastTs = txn.commitTs
            lines.append("commit@\(txn.commitTs)")
            return lines
        case let .get(k):
            guard let v = try readDB.get(Array(k.utf8)) else { return ["get \(k) -> nil"] }
            return ["get \(k) -> " + metaItemText(key: k, version: v.version, userMeta: v.userMeta,
                                                  expiresAt: v.expiresAt, value: v.value)]
        case let .viewGet(k):
            return ["viewGet \(k) -> " + (try readDB.view { try get($0, k) })]
        case let .iterate(spec):
            return ["iterate -> " + (try readDB.view { try iterate($0, spec) })]
        case let .openSnapshot(slot):
            if follower != nil {
                followerSnapshots[slot] = lastTs
                return ["snapshot \(slot) @\(lastTs)"]
            }
            snapshots[slot]?.discard()
            let t = try db.newTransaction(update: false)
            snapshots[slot] = t
            return ["snapshot \(slot) @\(t.readTs)"]
        case let .snapshotGet(slot, k):
            if follower != nil && followerSnapshots[slot] == 0 { return ["snapshot \(slot) get \(k) -> nil"] }
            guard let t = try snapshotTxn(slot) else { return ["no snapshot \(slot)"] }
            return ["snapshot \(slot) get \(k) -> " + (try get(t, k))]
        case let .snapshotIterate(slot, spec):
            if follower != nil && followerSnapshots[slot] == 0 {
                return ["snapshot \(slot) iterate -> " + (spec.allVersions ? "all[]" : "[]")]
            }
            guard let t = try snapshotTxn(slot) else { return ["no snapshot \(slot)"] }
            var s = spec
            s.sinceBack = nil
            return ["snapshot \(slot) iterate -> " + (try iterate(t, s))]
        case let .closeSnapshot(slot):
            snapshots[slot]?.discard()
            snapshots[slot] = nil
            followerSnapshots[slot] = nil
            return []
        case .flatten:
            try db.flatten()
            try follower?.flatten()
            return []
        case .reopen:
            try reopen()
            return []
        case .crash:
            try crash()
            return []
        case .valueLogGC:
            for target in [db] + (follower.map { [$0] } ?? []) {
                var passes = 0
                while passes < 4, try target.runValueLogGC(discardRatio: 0.01) != nil { passes += 1 }
            }
            return []
        }
    }
}
