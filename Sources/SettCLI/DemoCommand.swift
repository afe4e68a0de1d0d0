import ArgumentParser
import Sett

/// `sett demo`: writes a few thousand keys (small values in the tree, large ones in the
/// value log, overwrites and deletes), closes, reopens, reads everything back, checks it
/// against an in-memory model, iterates a range both ways, compacts and runs value-log
/// GC (checking again), and prints the stats.
/// Exits non-zero when anything read back differs from what was written.
///
/// Every run writes (or deletes) every key of its key space, so the expected state does
/// not depend on earlier runs in the same directory.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Write, reopen, read back and verify a few thousand keys; print stats."
    )

    @Option(name: .long, help: "Data directory (created if missing).")
    var dir: String = "./sett-data/demo"

    @Option(name: .long, help: "Number of keys.")
    var keys: Int = 3000

    @Flag(name: .long, help: "Delete the data directory first.")
    var fresh = false

    init() {}

    func validate() throws {
        guard keys >= 10 && keys <= 999_999 else { throw ValidationError("--keys must be in 10...999999") }
    }

    func run() throws {
        if fresh { try CLIFiles.removeTree(dir) }
        try CLIFiles.makeDirectories(dir)
        var model = DemoModel(keys: keys)
        var options = Options(dir: dir)
        options.logger.logLevel = .warning
        options.valueLogMaxEntries = 500  // several value-log files, so GC has old ones to take

        print("sett demo: data directory \(dir)")
        var db = try DB.open(options)
        let firstVersion = db.maxVersion + 1
        print("opened; max version so far \(db.maxVersion)")

        // 1. put every key, 2. overwrite every 7th, 3. delete every 5th: one version per batch.
        let puts = try model.write(db, batchSize: 250) { i in (i, DemoModel.value(i, generation: 1)) }
        let overwrites = try model.write(db, batchSize: 250) { i in
            i % 7 == 3 ? (i, DemoModel.value(i, generation: 2)) : nil
        }
        let deletes = try model.write(db, batchSize: 100) { i in i % 5 == 4 ? (i, nil) : nil }
        print("wrote \(puts.entries) puts in \(puts.batches) batches, \(overwrites.entries) overwrites, "
              + "\(deletes.entries) deletes; versions \(firstVersion)...\(db.maxVersion)")
        print("values of at least \(options.valueThreshold) B (\(model.largeCount) live keys) go to the value log")

        var failures = model.verify(db, label: "before close")
        try db.close()
        print("closed; reopening")

        db = try DB.open(options)
        print("reopened; max version \(db.maxVersion)")
        if db.maxVersion < firstVersion + UInt64(puts.batches + overwrites.batches + deletes.batches) - 1 {
            failures.append("max version \(db.maxVersion) after reopen is below the last version written")
        }
        failures += model.verify(db, label: "after reopen")
        failures += model.verifyRange(db, from: keys / 3, to: keys / 3 + 200, reverse: false)
        failures += model.verifyRange(db, from: keys / 3, to: keys / 3 + 200, reverse: true)

        // 4. compact, then value-log GC: files whose values were mostly overwritten or
        // deleted go, their live values moved to the active file.
        try db.flatten()
        var removed = 0, moved = 0
        while let r = try db.runValueLogGC(discardRatio: 0.5) {
            removed += 1
            moved += r.movedEntries
        }
        print("value-log GC: removed \(removed) file(s), moved \(moved) live values")
        failures += model.verify(db, label: "after value-log GC")

        print("\nstats:\n\(db.stats())")
        try db.close()

        if failures.isEmpty {
            print("\nOK: every key read back as written, before close and after reopen")
        } else {
            print("\nFAILED: \(failures.count) problem(s)")
            for f in failures.prefix(20) { print("  " + f) }
            throw ExitCode.failure
        }
    }
}

/// What the demo expects the database to hold: `values[i]` for key i, nil when deleted.
struct DemoModel {
    var values: [[UInt8]?]

    init(keys: Int) { values = Array(repeating: nil, count: keys) }

    static func key(_ i: Int) -> [UInt8] {
        let digits = String(i)
        return Array(("demo/key/" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits).utf8)
    }

    /// Every 10th key (every 14th on overwrite) gets a value of 1.2-4 KiB, the rest 20-120 B.
    static func value(_ i: Int, generation: Int) -> [UInt8] {
        let large = generation == 1 ? i % 10 == 0 : i % 14 == 3
        let size = large ? 1200 + (i &* 37) % 2900 : 20 + i % 100
        var v = Array("g\(generation):\(i):".utf8)
        var j = 0
        while v.count < size {
            v.append(UInt8(97 + (i &* 31 &+ j &* 7 &+ generation) % 26))
            j += 1
        }
        return v
    }

    var largeCount: Int { values.reduce(0) { $0 + (($1?.count ?? 0) >= 1024 ? 1 : 0) } }

    /// Writes the (index, value-or-nil-for-delete) pairs `pick` returns for each key, in
    /// transactions of `batchSize` writes (each commit takes the next version); updates
    /// the model.
    mutating func write(_ db: DB, batchSize: Int, _ pick: (Int) -> (Int, [UInt8]?)?) throws
        -> (entries: Int, batches: Int)
    {
        var entries = 0, batches = 0
        var txn = try db.newTransaction(update: true)
        func flush() throws {
            if txn.pendingWriteCount == 0 { return }
            try txn.commit()
            batches += 1
            txn = try db.newTransaction(update: true)
        }
        for i in values.indices {
            guard let (k, v) = pick(i) else { continue }
            if let v { try txn.set(Self.key(k), v) } else { try txn.delete(Self.key(k)) }
            values[k] = v
            entries += 1
            if txn.pendingWriteCount == batchSize { try flush() }
        }
        try flush()
        txn.discard()
        return (entries, batches)
    }

    /// Point-reads every key; returns descriptions of mismatches.
    func verify(_ db: DB, label: String) -> [String] {
        var bad: [String] = []
        var live = 0
        for (i, want) in values.enumerated() {
            do {
                let got = try db.get(Self.key(i))
                if got?.value != want {
                    bad.append("\(label): key \(i): expected \(Self.describe(want)), got \(Self.describe(got?.value))")
                }
                if got != nil { live += 1 }
            } catch {
                bad.append("\(label): key \(i): get failed: \(error)")
            }
        }
        print("\(label): read \(values.count) keys, \(live) live, \(bad.count) mismatches")
        return bad
    }

    /// Iterates keys [from, to) forward, or (to, from] backward, comparing with the model.
    func verifyRange(_ db: DB, from: Int, to: Int, reverse: Bool) -> [String] {
        let hi = min(to, values.count)
        let expected = (from ..< hi).filter { values[$0] != nil }
        let want = reverse ? Array(expected.reversed()) : expected
        let it = db.makeIterator(reverse: reverse)
        let lowKey = Self.key(from), highKey = Self.key(hi)
        it.seek(reverse ? Self.key(hi - 1) : lowKey)
        var got: [Int] = []
        var bad: [String] = []
        let label = reverse ? "reverse range" : "range"
        while it.valid {
            let k = it.key
            if reverse ? DemoModel.less(k, lowKey) : !DemoModel.less(k, highKey) { break }
            guard let idx = Int(String(decoding: k.dropFirst(9), as: UTF8.self)), k.starts(with: Array("demo/key/".utf8)),
                  idx < values.count
            else {
                bad.append("\(label): unexpected key \(String(decoding: k, as: UTF8.self))")
                it.next()
                continue
            }
            do {
                if try it.value() != values[idx] { bad.append("\(label): key \(idx): wrong value") }
            } catch {
                bad.append("\(label): key \(idx): value failed: \(error)")
            }
            got.append(idx)
            it.next()
        }
        if let e = it.error { bad.append("\(label): iterator error \(e)") }
        if got != want {
            bad.append("\(label): expected \(want.count) keys \(want.prefix(5))..., got \(got.count) \(got.prefix(5))...")
        }
        let span = reverse ? "\(hi - 1) down to \(from)" : "\(from) up to \(hi - 1)"
        print("\(label): keys \(span): \(got.count) live keys in order, \(bad.count) mismatches")
        return bad
    }

    static func less(_ a: [UInt8], _ b: [UInt8]) -> Bool { a.lexicographicallyPrecedes(b) }

    static func describe(_ v: [UInt8]?) -> String {
        guard let v else { return "absent" }
        return "\(v.count) B \"\(String(decoding: v.prefix(16), as: UTF8.self))…\""
    }
}
