import Foundation
import Testing
@testable import Sett

@Suite struct TxnIteratorTests {
    /// keys a0..a4 and b0..b4; a2 has three versions, b1 is deleted; every 3rd value is large.
    func populated() throws -> (DB, versions: [UInt64]) {
        let db = try DB.open(txnOptions())
        var versions: [UInt64] = []
        try db.update { txn in
            for p in ["a", "b"] { for i in 0 ..< 5 { try txn.set(bytes("\(p)\(i)"), val(p, i, 1)) } }
        }
        versions.append(db.maxVersion)
        for gen in 2 ... 3 { try db.update { try $0.set(bytes("a2"), val("a", 2, gen)) }; versions.append(db.maxVersion) }
        try db.update { try $0.delete(bytes("b1")) }
        versions.append(db.maxVersion)
        return (db, versions)
    }

    func val(_ p: String, _ i: Int, _ gen: Int) -> [UInt8] {
        let base = "\(p)\(i)-g\(gen)"
        return bytes(i % 3 == 0 ? base + String(repeating: ".", count: 200) : base)  // > valueThreshold 64
    }

    func collect(_ txn: Txn, _ o: IteratorOptions, seek: [UInt8]? = nil) throws -> [(String, UInt64)] {
        let it = txn.makeIterator(o)
        if let seek { it.seek(seek) } else { it.rewind() }
        var out: [(String, UInt64)] = []
        while let item = it.item {
            out.append((String(decoding: item.key, as: UTF8.self), item.version))
            it.next()
        }
        #expect(it.error == nil)
        return out
    }

    @Test func forwardReverseAndPrefix() throws {
        let (db, _) = try populated()
        defer { try? db.close() }
        try db.view { txn throws in
            #expect(try collect(txn, IteratorOptions()).map(\.0) == ["a0", "a1", "a2", "a3", "a4", "b0", "b2", "b3", "b4"])
            #expect(try collect(txn, IteratorOptions(reverse: true)).map(\.0)
                == ["b4", "b3", "b2", "b0", "a4", "a3", "a2", "a1", "a0"])
            #expect(try collect(txn, IteratorOptions(prefix: bytes("b"))).map(\.0) == ["b0", "b2", "b3", "b4"])
            #expect(try collect(txn, IteratorOptions(reverse: true, prefix: bytes("a"))).map(\.0)
                == ["a4", "a3", "a2", "a1", "a0"])
        }
    }

    @Test func seekInBothDirections() throws {
        let (db, _) = try populated()
        defer { try? db.close() }
        try db.view { txn throws in
            #expect(try collect(txn, IteratorOptions(), seek: bytes("a25")).map(\.0).first == "a3")
            #expect(try collect(txn, IteratorOptions(reverse: true), seek: bytes("a25")).map(\.0).first == "a2")
            #expect(try collect(txn, IteratorOptions(prefix: bytes("b")), seek: bytes("a")).map(\.0).first == "b0")
            #expect(try collect(txn, IteratorOptions(reverse: true, prefix: bytes("a")), seek: bytes("z")).map(\.0).first
                == "a4")
            #expect(try collect(txn, IteratorOptions(), seek: bytes("zz")).isEmpty)
        }
    }

    @Test func allVersionsIncludesOldVersionsAndTombstones() throws {
        let (db, versions) = try populated()
        defer { try? db.close() }
        try db.view { txn throws in
            let it = txn.makeIterator(IteratorOptions(allVersions: true))
            it.rewind()
            var a2: [UInt64] = []
            var b1Deleted: [Bool] = []
            while let item = it.item {
                if item.key == bytes("a2") { a2.append(item.version) }
                if item.key == bytes("b1") { b1Deleted.append(item.isDeletedOrExpired) }
                it.next()
            }
            #expect(a2 == [versions[2], versions[1], versions[0]])
            #expect(b1Deleted == [true, false])
            let rev = try collect(txn, IteratorOptions(reverse: true, allVersions: true, prefix: bytes("a2")))
            #expect(rev.map(\.1) == [versions[0], versions[1], versions[2]])
        }
    }

    @Test func sinceTsHidesOlderVersions() throws {
        let (db, versions) = try populated()
        defer { try? db.close() }
        try db.view { txn throws in
            #expect(try collect(txn, IteratorOptions(sinceTs: versions[0])).map(\.0) == ["a2"])
            #expect(try collect(txn, IteratorOptions(allVersions: true, sinceTs: versions[0])).map(\.1)
                == [versions[2], versions[1], versions[3]])
        }
    }

    @Test func snapshotIgnoresLaterCommits() throws {
        let (db, versions) = try populated()
        defer { try? db.close() }
        let txn = try db.newTransaction(update: false)
        try db.update { try $0.set(bytes("a5"), bytes("late")) }
        #expect(try collect(txn, IteratorOptions(prefix: bytes("a"))).count == 5)
        #expect(try txn.get(bytes("a2"))?.version == versions[2])
        txn.discard()
    }

    @Test func valuesPrefetchedBorrowedAndKeysOnly() throws {
        let (db, _) = try populated()
        defer { try? db.close() }
        try db.view { txn throws in
            for prefetch in [true, false] {
                let it = txn.makeIterator(IteratorOptions(prefetchValues: prefetch, prefetchSize: 3))
                it.rewind()
                while let item = it.item {
                    let k = String(decoding: item.key, as: UTF8.self)
                    let i = Int(k.dropFirst())!
                    let gen = k == "a2" ? 3 : 1
                    let want = val(String(k.prefix(1)), i, gen)
                    #expect(try item.value() == want)
                    #expect(try item.withValue { Array($0) } == want)
                    #expect(item.estimatedSize >= want.count)
                    if prefetch { #expect(!item.isPointer) }
                    it.next()
                }
            }
            let keys = txn.makeIterator(IteratorOptions(keysOnly: true))
            keys.rewind()
            let first = try #require(keys.item)
            #expect(first.key == bytes("a0"))
            #expect(throws: SettError.self) { try first.value() }
        }
    }

    @Test func pendingWritesAreMergedIn() throws {
        let (db, _) = try populated()
        defer { try? db.close() }
        let txn = try db.newTransaction(update: true)
        try txn.set(bytes("a1"), bytes("mine"))
        try txn.set(bytes("a25"), bytes("new"))
        try txn.delete(bytes("a3"))
        try txn.set(bytes("c0"), bytes("outside"))
        let got = try collect(txn, IteratorOptions(prefix: bytes("a")))
        #expect(got.map(\.0) == ["a0", "a1", "a2", "a25", "a4"])
        #expect(got[1].1 == txn.readTs)
        let rev = try collect(txn, IteratorOptions(reverse: true, prefix: bytes("a")), seek: bytes("a3"))
        #expect(rev.map(\.0) == ["a25", "a2", "a1", "a0"])
        let it = txn.makeIterator()
        it.seek(bytes("a1"))
        #expect(try it.item?.value() == bytes("mine"))
        // All versions: the pending write comes first (newest).
        let all = try collect(txn, IteratorOptions(allVersions: true, prefix: bytes("a3")))
        #expect(all.count == 2 && all[0].1 == txn.readTs)
        txn.discard()
    }
}
