import Foundation
import Synchronization
import Testing
@testable import Sett
import SettCLI

/// Issue 5's "done means" for the commit feed: a primary's feed replayed into a
/// follower (closed and reopened, and killed with SIGKILL) leaves both with identical
/// versions at every timestamp.
@Suite struct LogShippingTests {
    static func options(_ dir: String) -> Options {
        var o = smallOptions(dir)
        o.feedRetentionBytes = 256 << 20  // keep flushed history for the feed
        o.memTableSize = 1 << 16
        o.valueThreshold = 256
        return o
    }

    /// A small deterministic PRNG per writer thread.
    typealias SplitMix = SplitMix64

    /// `threads` writers, `perThread` batches each; versions come from one counter taken
    /// under the same lock as the write, so commit order is version order.
    static func workload(_ db: DB, threads: Int, perThread: Int, seed: UInt64) {
        let lock = Mutex(())
        let group = DispatchGroup()
        for t in 0 ..< threads {
            group.enter()
            Thread.detachNewThread {
                var rng = SplitMix(seed: seed &+ UInt64(t) &* 7919)
                for _ in 0 ..< perThread {
                    let n = 1 + rng.below(6)
                    var ops: [(key: [UInt8], value: [UInt8]?, userMeta: UInt8, expiresAt: UInt64, discard: Bool)] = []
                    var used = Set<Int>()
                    for _ in 0 ..< n {
                        let k = rng.below(200)
                        guard used.insert(k).inserted else { continue }
                        let size = rng.below(10) == 0 ? 300 + rng.below(900) : 1 + rng.below(60)
                        let isDelete = rng.below(8) == 0
                        ops.append((Array(String(format: "k%03d", k).utf8),
                                    isDelete ? nil : value(k, version: rng.next(), size: size),
                                    UInt8(rng.below(4)), rng.below(5) == 0 ? 4_000_000_000 : 0, rng.below(20) == 0))
                    }
                    lock.withLock { _ in
                        let v = db.maxVersion + 1
                        var b = EntryBatch()
                        for op in ops {
                            if let val = op.value {
                                b.set(op.key, val, version: v, userMeta: op.userMeta, expiresAt: op.expiresAt,
                                      discardEarlierVersions: op.discard)
                            } else {
                                b.delete(op.key, version: v)
                            }
                        }
                        do { try db.write(b) } catch { Issue.record("write failed: \(error)") }
                    }
                }
                group.leave()
            }
        }
        group.wait()
    }

    struct Visible: Equatable {
        var key: [UInt8]
        var version: UInt64
        var value: [UInt8]
        var userMeta: UInt8
        var expiresAt: UInt64
    }

    static func state(_ db: DB, at ts: UInt64) throws -> [Visible] {
        let it = db.makeIterator(at: ts)
        it.rewind()
        var out: [Visible] = []
        while it.valid {
            if !it.key.starts(with: Array("!sett!".utf8)) {
                out.append(Visible(key: it.key, version: it.version, value: try it.value(), userMeta: it.userMeta,
                                   expiresAt: it.expiresAt))
            }
            it.next()
        }
        return out
    }

    /// Both databases show the same versions at every timestamp up to the newest.
    static func expectIdentical(_ a: DB, _ b: DB) throws {
        let newest = a.maxVersion
        #expect(try LogShip.appliedPosition(b) == newest)
        var mismatches = 0
        for ts in UInt64(1) ... newest where mismatches < 3 {
            let sa = try state(a, at: ts)
            let sb = try state(b, at: ts)
            if sa != sb {
                mismatches += 1
                Issue.record("A and B differ at ts \(ts): \(sa.count) vs \(sb.count) visible keys")
            }
        }
    }

    /// Applies A's feed to the follower in `dir` from its recorded position until it
    /// reaches `until` (or `stopAfter` batches); returns the number applied.
    @discardableResult
    static func follow(_ a: DB, into b: DB, until: UInt64, stopAfter: Int = .max) throws -> Int {
        var position = try LogShip.appliedPosition(b)
        let reader = try a.makeFeedReader(from: position + 1)
        defer { reader.close() }
        var applied = 0
        while position < until && applied < stopAfter {
            guard let batch = try reader.next(timeout: 5) else {
                Issue.record("feed stalled at \(position)")
                break
            }
            #expect(batch.commitTs == position + 1, "dense versions arrive in order")
            try LogShip.apply(batch, to: b)
            position = batch.commitTs
            applied += 1
        }
        return applied
    }

    @Test func followerReplayingTheFeedMatchesThePrimaryAcrossReopenAndSigkill() throws {
        let aDir = TempDir("primary")
        let bDir = TempDir("follower")
        defer {
            aDir.cleanup()
            bDir.cleanup()
        }
        // Phase 1: a concurrent workload on A while B follows live, closed and reopened midway.
        let a = try DB.open(Self.options(aDir.path))
        let writers = Thread.detachNewThreadWithGroup {
            Self.workload(a, threads: 4, perThread: 120, seed: 1)
        }
        var b = try DB.open(Self.options(bDir.path))
        try Self.follow(a, into: b, until: 480, stopAfter: 150)
        try b.close()
        b = try DB.open(Self.options(bDir.path))
        #expect(try LogShip.appliedPosition(b) == 150)
        try Self.follow(a, into: b, until: 480)
        writers.wait()
        #expect(a.maxVersion == 480)
        try Self.expectIdentical(a, b)
        try b.close()

        // Phase 2: more writes, then A closes and a child process ships them, killed
        // with SIGKILL midway and resumed from the follower's own recorded position.
        Self.workload(a, threads: 3, perThread: 100, seed: 2)
        let newest = a.maxVersion
        try a.close()
        guard let binary = builtProduct("sett") else {
            Issue.record("the sett executable was not built beside the tests (run swift build first)")
            return
        }
        let killedAt = try Self.runChild(binary: binary, primary: aDir.path, follower: bDir.path, delayMs: 4,
                                          killAfter: 0.5)
        #expect(killedAt > 480 && killedAt < newest, "killed midway (last printed \(killedAt))")
        let status = try Self.runChild(binary: binary, primary: aDir.path, follower: bDir.path, delayMs: 0,
                                        killAfter: nil)
        #expect(status == newest)

        var ro = Self.options(aDir.path)
        ro.readOnly = true
        let aa = try DB.open(ro)
        let bb = try DB.open(Self.options(bDir.path))
        #expect(aa.maxVersion == newest)
        try Self.expectIdentical(aa, bb)
        try bb.close()
        try aa.close()
    }

    /// Runs `sett log-ship-child`; with `killAfter` sends SIGKILL after that many
    /// seconds. Returns the last position it printed.
    static func runChild(binary: String, primary: String, follower: String, delayMs: Int,
                         killAfter: Double?) throws -> UInt64 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["log-ship-child", "--primary-dir", primary, "--dir", follower, "--delay-ms", "\(delayMs)"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        try p.run()
        if let killAfter {
            Thread.sleep(forTimeInterval: killAfter)
            kill(p.processIdentifier, SIGKILL)
        }
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        let status = waitForExit(p)
        if killAfter == nil { #expect(status == 0, "child exit status") }
        return String(decoding: out, as: UTF8.self).split(separator: "\n").compactMap { line in
            line.hasPrefix("applied ") ? UInt64(line.dropFirst(8)) : nil
        }.max() ?? 0
    }
}

extension Thread {
    /// Runs `body` on a new thread; the returned group's `wait()` joins it.
    static func detachNewThreadWithGroup(_ body: @escaping @Sendable () -> Void) -> DispatchGroup {
        let g = DispatchGroup()
        g.enter()
        Thread.detachNewThread {
            body()
            g.leave()
        }
        return g
    }
}

private extension SplitMix64 {
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
