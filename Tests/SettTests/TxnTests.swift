import Foundation
import Synchronization
import Testing
@testable import Sett

/// A non-managed in-memory database with a small memtable.
func txnOptions() -> Options {
    var o = Options.inMemory()
    o.memTableSize = 1 << 20
    o.valueThreshold = 64
    o.logger.logLevel = .warning
    return o
}

/// Runs `body(i)` for i in 0..<n on n threads at once and waits for all.
func runThreads(_ n: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for i in 0 ..< n {
        group.enter()
        let t = Thread {
            body(i)
            group.leave()
        }
        t.start()
    }
    group.wait()
}

/// Expects `body` to throw a `SettError` with `code`.
func expectCode(_ code: SettError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected \(code), nothing thrown", sourceLocation: sourceLocation)
    } catch let e as SettError {
        #expect(e.code == code, "\(e)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(code), got \(error)", sourceLocation: sourceLocation)
    }
}

private func acct(_ i: Int) -> [UInt8] { bytes("acct/\(i)") }
private func decode(_ item: Item?) throws -> Int { Int(String(decoding: try item!.value(), as: UTF8.self))! }

@Suite struct TxnTests {
    @Test func readYourOwnWritesInsideAnUpdateTransaction() throws {
        let db = try DB.open(txnOptions())
        defer { try? db.close() }
        try db.update { try $0.set(bytes("gone"), bytes("x")) }
        let txn = try db.newTransaction(update: true)
        try txn.set(bytes("k"), bytes("mine"))
        try txn.delete(bytes("gone"))
        #expect(try txn.get(bytes("k"))?.value() == bytes("mine"))
        #expect(try txn.get(bytes("gone")) == nil)
        // Others do not see it before commit.
        #expect(try db.view { try $0.get(bytes("k")) } == nil)
        try txn.commit()
        #expect(try db.view { try $0.get(bytes("k"))?.value() } == bytes("mine"))
        #expect(try db.view { try $0.get(bytes("gone")) } == nil)
    }

    @Test func misuseThrowsClearErrors() throws {
        let db = try DB.open(txnOptions())
        defer { try? db.close() }
        let t = try db.newTransaction(update: true)
        try t.set(bytes("a"), bytes("1"))
        t.discard()
        #expect(throws: SettError.self) { try t.commit() }
        expectCode(.invalidArgument) { try t.commit() }
        expectCode(.invalidArgument) { try t.get(bytes("a")) }

        expectCode(.readOnly) { try db.view { try $0.set(bytes("a"), bytes("1")) } }
        expectCode(.invalidArgument) { try db.update { try $0.set([], bytes("1")) } }
        expectCode(.invalidArgument) { try db.update { try $0.set(bytes("!sett!x"), bytes("1")) } }
        expectCode(.invalidArgument) { try db.update { try $0.set([UInt8](repeating: 1, count: 70000), bytes("1")) } }
        // Managed-only calls refuse in non-managed mode.
        expectCode(.invalidArgument) { _ = try db.newTransaction(readTs: 5, update: false) }
        var b = EntryBatch()
        b.set(bytes("a"), bytes("1"), version: 9)
        expectCode(.invalidArgument) { try db.write(b) }
        let u = try db.newTransaction(update: true)
        try u.set(bytes("a"), bytes("1"))
        expectCode(.invalidArgument) { try u.commit(at: 100) }
        expectCode(.invalidArgument) { _ = try db.newWriteBatch(at: 3) }
        expectCode(.invalidArgument) { try db.leaveManagedMode() }
        // Committing twice: the second one is misuse.
        let c = try db.newTransaction(update: true)
        try c.set(bytes("c"), bytes("1"))
        try c.commit()
        expectCode(.invalidArgument) { try c.commit() }
        c.discard()  // harmless
    }

    @Test func lostUpdateIsPrevented() throws {
        let db = try DB.open(txnOptions())
        defer { try? db.close() }
        try db.update { try $0.set(bytes("counter"), bytes("0")) }
        let t1 = try db.newTransaction(update: true)
        let t2 = try db.newTransaction(update: true)
        _ = try t1.get(bytes("counter"))
        _ = try t2.get(bytes("counter"))
        try t1.set(bytes("counter"), bytes("1"))
        try t2.set(bytes("counter"), bytes("1"))
        try t1.commit()
        expectCode(.conflict) { try t2.commit() }
    }

    @Test func blindWritesAndReadOnlyTransactionsNeverConflict() throws {
        let db = try DB.open(txnOptions())
        defer { try? db.close() }
        let reader = try db.newTransaction(update: false)
        let t1 = try db.newTransaction(update: true)
        let t2 = try db.newTransaction(update: true)
        _ = try reader.get(bytes("k"))
        try t1.set(bytes("k"), bytes("1"))
        try t2.set(bytes("k"), bytes("2"))
        try t1.commit()
        try t2.commit()
        try reader.commit()
        #expect(try db.view { try $0.get(bytes("k"))?.value() } == bytes("2"))
    }

    @Test func writeSkewOnKeysIsPrevented() throws {
        let db = try DB.open(txnOptions())
        defer { try? db.close() }
        try db.update { txn in
            try txn.set(bytes("x"), bytes("1"))
            try txn.set(bytes("y"), bytes("1"))
        }
        // Invariant x + y >= 1; each txn sees both at 1 and sets one of them to 0.
        let t1 = try db.newTransaction(update: true)
        let t2 = try db.newTransaction(update: true)
        for t in [t1, t2] {
            _ = try t.get(bytes("x"))
            _ = try t.get(bytes("y"))
        }
        try t1.set(bytes("x"), bytes("0"))
        try t2.set(bytes("y"), bytes("0"))
        try t1.commit()
        expectCode(.conflict) { try t2.commit() }
    }

    @Test func writeSkewOnRangesIsPrevented() throws {
        let db = try DB.open(txnOptions())
        defer { try? db.close() }
        try db.update { try $0.set(bytes("shift/alice"), bytes("on")) }
        // Each txn counts the on-call doctors by scanning the range and adds one.
        func scanAndInsert(_ t: Txn, _ name: String) throws {
            let it = t.makeIterator(IteratorOptions(prefix: bytes("shift/")))
            it.rewind()
            var n = 0
            while it.valid { n += 1; it.next() }
            #expect(n == 1)
            try t.set(bytes("shift/\(name)"), bytes("on"))
        }
        let t1 = try db.newTransaction(update: true)
        let t2 = try db.newTransaction(update: true)
        try scanAndInsert(t1, "bob")
        try scanAndInsert(t2, "carol")
        try t1.commit()
        expectCode(.conflict) { try t2.commit() }
    }

    @Test func phantomInsertIntoAScannedRangeConflicts() throws {
        let db = try DB.open(txnOptions())
        defer { try? db.close() }
        try db.update { txn in
            for i in [1, 3, 5] { try txn.set(bytes("p/\(i)"), bytes("v")) }
            try txn.set(bytes("q/1"), bytes("v"))
        }
        // A reverse scan that stops early covers only what it reached.
        let early = try db.newTransaction(update: true)
        let rit = early.makeIterator(IteratorOptions(reverse: true, prefix: bytes("p/")))
        rit.rewind()
        #expect(rit.item?.key == bytes("p/5"))
        try early.set(bytes("other1"), bytes("x"))
        // Full forward scan of p/.
        let full = try db.newTransaction(update: true)
        let it = full.makeIterator(IteratorOptions(prefix: bytes("p/")))
        it.rewind()
        while it.valid { it.next() }
        try full.set(bytes("other2"), bytes("x"))
        // A seek that stops at p/3.
        let seeker = try db.newTransaction(update: true)
        let sit = seeker.makeIterator()
        sit.seek(bytes("p/2"))
        #expect(sit.item?.key == bytes("p/3"))
        try seeker.set(bytes("other3"), bytes("x"))

        // An untouched snapshot: a phantom below where the reverse scan stopped.
        let early2 = try db.newTransaction(update: true)
        let rit2 = early2.makeIterator(IteratorOptions(reverse: true, prefix: bytes("p/")))
        rit2.rewind()
        try early2.set(bytes("other4"), bytes("x"))

        try db.update { try $0.set(bytes("p/4"), bytes("phantom")) }  // in p/, between p/3 and p/5
        try db.update { try $0.set(bytes("q/2"), bytes("elsewhere")) }
        try early2.commit()                             // reverse scan covered [p/5, end of p/) only
        try db.update { try $0.set(bytes("p/6"), bytes("phantom")) }  // above p/5
        expectCode(.conflict) { try full.commit() }
        expectCode(.conflict) { try early.commit() }
        try seeker.commit()                             // covered [p/2, p/3]: neither insert is inside
    }

    @Test func conflictDetectionCanBeTurnedOff() throws {
        var o = txnOptions()
        o.detectConflicts = false
        let db = try DB.open(o)
        defer { try? db.close() }
        let t1 = try db.newTransaction(update: true)
        let t2 = try db.newTransaction(update: true)
        _ = try t1.get(bytes("k"))
        _ = try t2.get(bytes("k"))
        try t1.set(bytes("k"), bytes("1"))
        try t2.set(bytes("k"), bytes("2"))
        try t1.commit()
        try t2.commit()
        #expect(try db.view { try $0.get(bytes("k"))?.value() } == bytes("2"))
        #expect(db.oracle.trackedCommits == 0)
    }

    @Test func committedWriteSetsAreDroppedOnceNoOlderTransactionIsOpen() throws {
        let db = try DB.open(txnOptions())
        defer { try? db.close() }
        let old = try db.newTransaction(update: true)
        for i in 0 ..< 50 { try db.update { try $0.set(key(i), bytes("v")) } }
        #expect(db.oracle.trackedCommits >= 50)
        old.discard()
        try db.update { try $0.set(bytes("last"), bytes("v")) }
        #expect(db.oracle.trackedCommits <= 2)  // the newest commit is at the new readers' timestamp
        // The discard timestamp follows the oldest open read.
        #expect(db.discardTs >= db.maxVersion - 1)
    }

    @Test func ttlExpiryHidesEntries() throws {
        let db = try DB.open(txnOptions())
        defer { try? db.close() }
        try db.update { txn in
            var past = Entry(key: bytes("past"), value: bytes("v"))
            past.expiresAt = unixNow() - 10
            try txn.set(past)
            try txn.set(Entry(key: bytes("future"), value: bytes("v")).withTTL(seconds: 3600))
            var meta = Entry(key: bytes("meta"), value: bytes("v"))
            meta.userMeta = 7
            meta.discardEarlierVersions = true
            try txn.set(meta)
        }
        try db.view { txn throws in
            #expect(try txn.get(bytes("past")) == nil)
            let f = try #require(try txn.get(bytes("future")))
            #expect(f.expiresAt > unixNow() + 3000)
            #expect(!f.isDeletedOrExpired)
            let m = try #require(try txn.get(bytes("meta")))
            #expect(m.userMeta == 7 && m.discardEarlierVersions)
            let it = txn.makeIterator(IteratorOptions(allVersions: true))
            it.rewind()
            var seen: [[UInt8]: Bool] = [:]
            while let item = it.item { seen[item.key] = item.isDeletedOrExpired; it.next() }
            #expect(seen == [bytes("past"): true, bytes("future"): false, bytes("meta"): false])
        }
    }

    @Test func transactionTooBigFailsAtTheDocumentedSize() throws {
        let db = try DB.open(txnOptions())
        defer { try? db.close() }
        #expect(db.maxTransactionBytes == (1 << 20) * 15 / 100)
        let txn = try db.newTransaction(update: true)
        var n = 0
        let err = #expect(throws: SettError.self) {
            while true {
                try txn.set(key(n), value(n, version: 1, size: 40))
                n += 1
            }
        }
        #expect(err?.code == .txnTooBig)
        #expect(n > 100 && txn.pendingWriteCount == n)
        try txn.commit()  // what fit is still committable
        #expect(try db.view { try $0.get(key(n - 1)) } != nil)
    }

    @Test func writeBatchSplitsLargeLoads() throws {
        let db = try DB.open(txnOptions())
        defer { try? db.close() }
        let wb = try db.newWriteBatch()
        let count = 20_000   // several times what one transaction may hold
        for i in 0 ..< count { try wb.set(key(i), value(i, version: 1, size: i % 50 == 0 ? 200 : 30)) }
        try wb.delete(key(7))
        try wb.flush()
        #expect(db.maxVersion > 3)  // split into several commits
        try db.view { txn throws in
            for i in stride(from: 0, to: count, by: 997) where i != 7 {
                #expect(try txn.get(key(i))?.value() == value(i, version: 1, size: i % 50 == 0 ? 200 : 30))
            }
            #expect(try txn.get(key(7)) == nil)
        }
        expectCode(.invalidArgument) { try wb.set(key(1), bytes("x")) }
    }

    @Test func asyncCommitFromSwiftConcurrency() async throws {
        let db = try DB.open(txnOptions())
        defer { try? db.close() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0 ..< 32 {
                group.addTask {
                    let txn = try db.newTransaction(update: true)
                    try txn.set(key(i), bytes("async\(i)"))
                    try await txn.commit()
                }
            }
            try await group.waitForAll()
        }
        try db.view { txn throws in
            for i in 0 ..< 32 { #expect(try txn.get(key(i))?.value() == bytes("async\(i)")) }
        }
        // Completion form.
        let txn = try db.newTransaction(update: true)
        try txn.set(bytes("cb"), bytes("1"))
        let done = Atomic<Int>(0)
        txn.commit { error in done.store(error == nil ? 1 : 2, ordering: .releasing) }
        while done.load(ordering: .acquiring) == 0 { try await Task.sleep(nanoseconds: 1_000_000) }
        #expect(done.load(ordering: .acquiring) == 1)
    }

    @Test func groupCommitOrderEqualsTimestampOrder() throws {
        let db = try DB.open(txnOptions())
        defer { try? db.close() }
        let start = db.maxVersion
        let finished = Mutex<[UInt64: [UInt8]]>([:])
        let writers = 6, perWriter = 150
        let violations = Atomic<Int>(0)
        runThreads(writers + 1) { w in
            if w == writers {
                // Reader: a snapshot at R must show every commit at or below R, and none above.
                for _ in 0 ..< 60 {
                    guard let txn = try? db.newTransaction(update: false) else { return }
                    let r = txn.readTs
                    var keys: [UInt64: [UInt8]] = [:]
                    while true {
                        keys = finished.withLock { $0 }
                        if (start + 1 ... max(start + 1, r)).allSatisfy({ keys[$0] != nil }) || r == start { break }
                    }
                    for (ts, k) in keys {
                        let visible = (try? txn.get(k)) != nil
                        if visible != (ts <= r) { violations.add(1, ordering: .relaxed) }
                    }
                    txn.discard()
                }
                return
            }
            for i in 0 ..< perWriter {
                let k = bytes("w\(w)-\(i)")
                let txn = try! db.newTransaction(update: true)
                try! txn.set(k, bytes("v"))
                try! txn.commit()
                let ts = txn.commitTs
                finished.withLock { $0[ts] = k }
            }
        }
        #expect(violations.load(ordering: .relaxed) == 0)
        let all = finished.withLock { $0 }
        #expect(Set(all.keys) == Set(start + 1 ... start + UInt64(writers * perWriter)))
    }

    @Test func bankTransfersKeepTheTotal() throws {
        let db = try DB.open(txnOptions())
        defer { try? db.close() }
        let accounts = 8, initial = 100
        try db.update { txn in for i in 0 ..< accounts { try txn.set(acct(i), bytes("\(initial)")) } }
        let deadline = Date().addingTimeInterval(1.5)
        let transfers = Atomic<Int>(0), conflicts = Atomic<Int>(0), badSums = Atomic<Int>(0), checks = Atomic<Int>(0)
        runThreads(5) { w in
            var rng = SystemRandomNumberGenerator()
            while Date() < deadline {
                if w == 4 {
                    // Auditor: sum by point reads and by a range scan, both must match.
                    let sums = try! db.view { txn -> (Int, Int) in
                        var a = 0
                        for i in 0 ..< accounts { a += try decode(try txn.get(acct(i))) }
                        var b = 0
                        let it = txn.makeIterator(IteratorOptions(prefix: bytes("acct/")))
                        it.rewind()
                        while let item = it.item { b += try decode(item); it.next() }
                        return (a, b)
                    }
                    if sums.0 != accounts * initial || sums.1 != accounts * initial { badSums.add(1, ordering: .relaxed) }
                    checks.add(1, ordering: .relaxed)
                    continue
                }
                let from = Int.random(in: 0 ..< accounts, using: &rng)
                let to = (from + Int.random(in: 1 ..< accounts, using: &rng)) % accounts
                let amount = Int.random(in: 1 ... 10, using: &rng)
                do {
                    try db.update { txn in
                        let a = try decode(try txn.get(acct(from)))
                        let b = try decode(try txn.get(acct(to)))
                        guard a >= amount else { return }
                        try txn.set(acct(from), bytes("\(a - amount)"))
                        try txn.set(acct(to), bytes("\(b + amount)"))
                    }
                    transfers.add(1, ordering: .relaxed)
                } catch let e as SettError where e.code == .conflict {
                    conflicts.add(1, ordering: .relaxed)
                } catch {
                    Issue.record("\(error)")
                    return
                }
            }
        }
        #expect(badSums.load(ordering: .relaxed) == 0)
        #expect(transfers.load(ordering: .relaxed) > 50)
        #expect(checks.load(ordering: .relaxed) > 10)
        let total = try db.view { txn in try (0 ..< accounts).reduce(0) { $0 + (try decode(try txn.get(acct($1)))) } }
        #expect(total == accounts * initial)
    }
}
