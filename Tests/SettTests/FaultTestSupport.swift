import Foundation
import Testing
@testable import Sett

/// The fixed workload of the crash and fault tests, and the checks made after a reopen.
///
/// Transaction i (sync writes, oracle timestamps) sets three fresh keys "f<i>-<j>" with
/// 1000-byte inline values, one "big<i>" of 1500 bytes (value log), overwrites
/// "hot<i % 7>", and from i = 3 on deletes "f<i-3>-0". With `faultOptions` memtables
/// hold about 20 transactions, so 80 of them flush several memtables, compact L0 into
/// L1, rotate value-log files and retire WALs into feed segments.
enum FaultWorkload {
    static let dir = "/db"
    static let transactions = 80

    static func options(_ fs: any FileSystem) -> Options {
        var o = Options(dir: dir)
        o.fileSystem = fs
        o.syncWrites = true
        o.memTableSize = 64 << 10
        o.baseTableSize = 16 << 10
        o.baseLevelSize = 64 << 10
        o.numLevelZeroTables = 2
        o.numLevelZeroTablesStall = 4
        o.numMemtables = 2
        o.blockSize = 1 << 10
        o.valueThreshold = 1024
        o.valueLogMaxEntries = 25
        o.numCompactors = 1
        o.blockCacheSize = 0
        o.compression = .none
        o.logger.logLevel = .critical
        return o
    }

    static func val(_ i: Int, _ j: Int, size: Int) -> [UInt8] {
        let seed = Array("t\(i)/\(j)|".utf8)
        return (0 ..< size).map { seed[$0 % seed.count] &+ UInt8(truncatingIfNeeded: $0 / seed.count) }
    }

    /// Runs transaction `i` on `db`.
    static func commit(_ i: Int, on db: DB) throws {
        try db.update { txn in
            for j in 0 ..< 3 { try txn.set(bytes("f\(i)-\(j)"), val(i, j, size: 1000)) }
            try txn.set(bytes("big\(i)"), val(i, 9, size: 1500))
            try txn.set(bytes("hot\(i % 7)"), bytes("h\(i)"))
            if i >= 3 { try txn.delete(bytes("f\(i - 3)-0")) }
        }
    }

    /// The expected contents after transactions 0 ..< n.
    static func model(_ n: Int) -> [[UInt8]: [UInt8]] {
        var m: [[UInt8]: [UInt8]] = [:]
        for i in 0 ..< n {
            for j in 0 ..< 3 { m[bytes("f\(i)-\(j)")] = val(i, j, size: 1000) }
            m[bytes("big\(i)")] = val(i, 9, size: 1500)
            m[bytes("hot\(i % 7)")] = bytes("h\(i)")
            if i >= 3 { m[bytes("f\(i - 3)-0")] = nil }
        }
        return m
    }

    /// Everything a full iteration sees (throws on an iterator or value error).
    static func contents(_ db: DB) throws -> [[UInt8]: [UInt8]] {
        var out: [[UInt8]: [UInt8]] = [:]
        let it = db.makeIterator()
        it.rewind()
        while it.valid {
            out[it.key] = try it.value()
            it.next()
        }
        if let e = it.error { throw e }
        return out
    }

    /// Opens `fs` (no faults) and checks that its contents equal the model after some
    /// transaction count in `allowed`, both by full iteration and by point gets; returns
    /// that count, or nil after recording an issue.
    @discardableResult
    static func verify(_ fs: any FileSystem, allowed: ClosedRange<Int>, _ context: String,
                       sourceLocation: SourceLocation = #_sourceLocation) -> Int? {
        do {
            let db = try DB.open(options(fs))
            defer { try? db.close() }
            let seen = try contents(db)
            guard let n = allowed.first(where: { model($0) == seen }) else {
                let closest = allowed.min { diff(model($0), seen) < diff(model($1), seen) }!
                Issue.record("""
                    \(context): reopened contents match no prefix in \(allowed) (closest \(closest), \
                    \(diff(model(closest), seen)) keys differ: \(describeDiff(model(closest), seen)))
                    """, sourceLocation: sourceLocation)
                return nil
            }
            let expected = model(n)
            for (k, v) in expected where try db.get(k)?.value != v {
                Issue.record("\(context): get(\(String(decoding: k, as: UTF8.self))) differs from iteration",
                             sourceLocation: sourceLocation)
                return nil
            }
            for i in [n, n + 1] where i < transactions {
                if try db.get(bytes("big\(i)")) != nil {
                    Issue.record("\(context): big\(i) present beyond the matched prefix \(n)", sourceLocation: sourceLocation)
                }
            }
            try db.close()
            return n
        } catch {
            Issue.record("\(context): reopen or read failed: \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    /// For a workload that went on after failed transactions: opens `fs` (no faults) and
    /// checks that every transaction in `acked` is present, every one in `failed` is
    /// present whole or absent whole, none beyond `attempted` exists, the hot keys hold
    /// the newest acknowledged value or a newer failed one, and reads give no error.
    static func verify(_ fs: any FileSystem, acked: Set<Int>, failed: Set<Int>, attempted: Int, _ context: String,
                       sourceLocation: SourceLocation = #_sourceLocation) {
        func fail(_ what: String) { Issue.record("\(context): \(what)", sourceLocation: sourceLocation) }
        do {
            let db = try DB.open(options(fs))
            defer { try? db.close() }
            let seen = try contents(db)
            for i in 0 ..< transactions {
                var group: [(key: [UInt8], value: [UInt8])] = [(bytes("f\(i)-1"), val(i, 1, size: 1000)),
                                                              (bytes("f\(i)-2"), val(i, 2, size: 1000)),
                                                              (bytes("big\(i)"), val(i, 9, size: 1500))]
                // f<i>-0 is deleted by transaction i+3.
                let deleter = i + 3
                let f0 = (bytes("f\(i)-0"), val(i, 0, size: 1000))
                if deleter >= attempted || (!acked.contains(deleter) && !failed.contains(deleter)) {
                    group.append(f0)
                } else if acked.contains(deleter), seen[f0.0] != nil {
                    fail("f\(i)-0 present though transaction \(deleter) deleting it was acknowledged")
                }
                let present = group.filter { seen[$0.key] != nil }
                for g in present where seen[g.key] != g.value {
                    fail("\(String(decoding: g.key, as: UTF8.self)) has a wrong value")
                }
                if acked.contains(i) && present.count != group.count {
                    fail("acknowledged transaction \(i) lost \(group.count - present.count) of its keys")
                } else if failed.contains(i) && !present.isEmpty && present.count != group.count {
                    fail("failed transaction \(i) is partially present (\(present.count) of \(group.count) keys)")
                } else if !acked.contains(i) && !failed.contains(i) && !present.isEmpty {
                    fail("transaction \(i) was never attempted but is present")
                }
            }
            for k in 0 ..< 7 {
                let newestAcked = acked.filter { $0 % 7 == k }.max()
                let allowed = Set(([newestAcked].compactMap { $0 } + failed.filter { $0 % 7 == k && $0 > (newestAcked ?? -1) })
                    .map { bytes("h\($0)") })
                let got = seen[bytes("hot\(k)")]
                if let got { if !allowed.contains(got) { fail("hot\(k) = \(String(decoding: got, as: UTF8.self))") } }
                else if newestAcked != nil { fail("hot\(k) missing") }
            }
            for (k, v) in seen where try db.get(k)?.value != v {
                fail("get(\(String(decoding: k, as: UTF8.self))) differs from iteration")
            }
            try db.close()
        } catch {
            fail("reopen or read failed: \(error)")
        }
    }

    static func diff(_ a: [[UInt8]: [UInt8]], _ b: [[UInt8]: [UInt8]]) -> Int {
        Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.count
    }

    static func describeDiff(_ want: [[UInt8]: [UInt8]], _ got: [[UInt8]: [UInt8]]) -> String {
        let keys = Set(want.keys).union(got.keys).filter { want[$0] != got[$0] }
            .map { String(decoding: $0, as: UTF8.self) }.sorted()
        return keys.prefix(6).map { k in
            let w = want[bytes(k)] == nil ? "absent" : "present"
            let g = got[bytes(k)] == nil ? "absent" : (want[bytes(k)] == nil ? "present" : "different")
            return "\(k): want \(w), got \(g)"
        }.joined(separator: "; ")
    }
}

/// Runs `body` on its own thread and waits at most `seconds`; false when it did not finish
/// (the thread is then left behind: the caller records the hang).
func runBounded(seconds: Double, _ body: @escaping @Sendable () -> Void) -> Bool {
    let done = DispatchSemaphore(value: 0)
    let t = Thread {
        body()
        done.signal()
    }
    t.stackSize = 4 << 20
    t.start()
    return done.wait(timeout: .now() + seconds) == .success
}

/// A value shared with a workload thread.
final class Shared<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ v: T) { value = v }
    var get: T { lock.withLock { value } }
    func set(_ v: T) { lock.withLock { value = v } }
    func update(_ f: (inout T) -> Void) { lock.withLock { f(&value) } }
}
