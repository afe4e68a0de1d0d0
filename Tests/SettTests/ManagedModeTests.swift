import Foundation
import Testing
@testable import Sett

@Suite struct ManagedModeTests {
    @Test func commitAtAndReadAtSurviveReopen() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        do {
            let db = try DB.open(smallOptions(dir.path))
            for ts in stride(from: UInt64(10), through: 30, by: 10) {
                let txn = try db.newTransaction(readTs: ts - 1, update: true)
                try txn.set(bytes("k"), bytes("v\(ts)"))
                try txn.set(bytes("k\(ts)"), bytes("only\(ts)"))
                try txn.commit(at: ts)
            }
            let wb = try db.newWriteBatch(at: 40)
            for i in 0 ..< 3000 { try wb.set(key(i), value(i, version: 40)) }  // several chunks, all at 40
            try wb.flush()
            var raw = EntryBatch()
            raw.delete(bytes("k"), version: 50)
            try db.write(raw)
            // Caller-chosen snapshots.
            #expect(try db.view(at: 25) { try $0.get(bytes("k"))?.value() } == bytes("v20"))
            #expect(try db.view(at: 9) { try $0.get(bytes("k")) } == nil)
            #expect(try db.view { try $0.get(bytes("k")) } == nil)   // latest: deleted at 50
            try db.close()
        }
        let db = try DB.open(smallOptions(dir.path))
        defer { try? db.close() }
        #expect(db.maxVersion == 50)
        try db.view(at: 45) { txn throws in
            #expect(try txn.get(bytes("k"))?.value() == bytes("v30"))
            #expect(try txn.get(bytes("k10"))?.version == 10)
            for i in stride(from: 0, to: 3000, by: 331) {
                let item = try #require(try txn.get(key(i)))
                #expect(item.version == 40)
                #expect(try item.value() == value(i, version: 40))
            }
        }
    }

    @Test func managedConflictsUseTheCallersTimestamps() throws {
        let db = try DB.open(managedInMemory())
        defer { try? db.close() }
        let a = try db.newTransaction(readTs: 5, update: true)
        let b = try db.newTransaction(readTs: 5, update: true)
        _ = try a.get(bytes("x"))
        _ = try b.get(bytes("x"))
        try a.set(bytes("x"), bytes("a"))
        try b.set(bytes("x"), bytes("b"))
        try a.commit(at: 6)
        expectCode(.conflict) { try b.commit(at: 7) }
    }

    @Test func oracleCallsAreRefusedInManagedMode() throws {
        let db = try DB.open(managedInMemory())
        defer { try? db.close() }
        expectCode(.invalidArgument) { _ = try db.newTransaction(update: true) }
        expectCode(.invalidArgument) { try db.update { _ in } }
        expectCode(.invalidArgument) { _ = try db.newWriteBatch() }
        let t = try db.newTransaction(readTs: 1, update: true)
        try t.set(bytes("a"), bytes("1"))
        expectCode(.invalidArgument) { try t.commit() }
    }

    @Test func leavingManagedModeContinuesAfterTheHighestTimestamp() throws {
        let db = try DB.open(managedInMemory())
        defer { try? db.close() }
        let t = try db.newTransaction(readTs: 999, update: true)
        try t.set(bytes("replicated"), bytes("r"))
        try t.commit(at: 1000)
        #expect(db.isManaged)
        try db.leaveManagedMode()
        #expect(!db.isManaged)
        try db.update { txn in
            #expect(txn.readTs == 1000)
            #expect(try txn.get(bytes("replicated"))?.value() == bytes("r"))
            try txn.set(bytes("local"), bytes("l"))
        }
        #expect(db.maxVersion == 1001)
        #expect(try db.view { try $0.get(bytes("local"))?.version } == 1001)
        var b = EntryBatch()
        b.set(bytes("z"), bytes("z"), version: 2000)
        expectCode(.invalidArgument) { try db.write(b) }
    }

    @Test func nonManagedTimestampsContinueAfterReopen() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        do {
            let db = try DB.open(smallOptions(dir.path, managed: false))
            for i in 0 ..< 5 { try db.update { try $0.set(key(i), bytes("v")) } }
            #expect(db.maxVersion == 5)
            try db.close()
        }
        let db = try DB.open(smallOptions(dir.path, managed: false))
        defer { try? db.close() }
        let txn = try db.newTransaction(update: true)
        #expect(txn.readTs == 5)
        try txn.set(bytes("after"), bytes("x"))
        try txn.commit()
        #expect(txn.commitTs == 6)
    }
}
