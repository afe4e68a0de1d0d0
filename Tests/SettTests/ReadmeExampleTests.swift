import Testing
import Sett

/// The README's example, verbatim apart from the directory, so it keeps compiling.
@Suite struct ReadmeExampleTests {
    @Test func readmeQuickStartRuns() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var printed = ""
        let db = try DB.open(Options(dir: dir.path))
        try db.update { txn in
            try txn.set(Array("answer".utf8), Array("42".utf8))
        }
        try db.view { txn in
            if let item = try txn.get(Array("answer".utf8)) {
                printed = String(decoding: try item.value(), as: UTF8.self)
            }
        }
        try db.close()
        #expect(printed == "42")
    }
}
