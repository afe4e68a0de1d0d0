import Testing
@testable import Sett

@Suite struct LifecycleTests {
    /// A closed database releases everything (threads, tables and their mappings):
    /// a process that opens and closes databases must not leak them.
    @Test func closedDatabaseIsDeallocated() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        weak var weakDB: DB?
        weak var weakTable: Table?
        do {
            let db = try DB.open(smallOptions(dir.path, managed: false))
            for i in 0 ..< 300 {
                try db.update { try $0.set(key(i), value(i, version: 1, size: 400)) }
            }
            let txn = try db.newTransaction(update: false)
            _ = try txn.get(key(1))
            txn.discard()
            try db.flatten()
            weakTable = db.levels.snapshot().levels.joined().first
            #expect(weakTable != nil)
            try db.close()
            weakDB = db
        }
        #expect(weakDB == nil, "the DB object outlived close()")
        #expect(weakTable == nil, "a table (and its mmap) outlived close()")
    }
}
