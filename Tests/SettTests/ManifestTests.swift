import Glibc
import Logging
import Synchronization
import Testing
@testable import Sett

/// The shared test directory (TestSupport.swift).
private typealias ManifestTempDir = TempDir

private struct ManifestLogCapture: LogHandler {
    final class Sink: Sendable {
        let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
    }

    let sink: Sink
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        sink.lines.withLock { $0.append("\(event.level): \(event.message)") }
    }
}

private func fileBytes(_ path: String) throws -> [UInt8] {
    let f = try PosixFileSystem.shared.open(path, .readOnly)
    defer { f.close() }
    return try f.readExactly(Int(try f.size()), at: 0)
}

/// Live tables as comparable values.
private func tables(_ s: ManifestState) -> [UInt64: [Int]] {
    s.tables.mapValues { [$0.level, Int($0.compression.rawValue)] }
}

@Suite struct ManifestTests {
    let fs = PosixFileSystem.shared
    let logger = Logger(label: "test")

    @Test func goldenBytes() throws {
        let tmp = ManifestTempDir()
        defer { tmp.remove() }
        let (m, s0) = try Manifest.open(fs: fs, dir: tmp.path, readOnly: false, logger: logger)
        #expect(s0.tables.isEmpty)
        try m.apply([.create(5, level: 0, compression: .snappy), .create(300, level: 1, compression: .zstd),
                     .delete(5, level: 0)])
        m.close()
        let expected: [UInt8] = [
            0x53, 0x45, 0x54, 0x54, 0x4D, 0x41, 0x4E, 0x01, 1, 0, 0, 0,   // magic, version 1
            0x4A, 0xB3, 0xD5, 0x07, 14, 0, 0, 0,                           // crc32c, length
            3,                                                             // three changes
            1, 5, 0, 1,                                                    // create 5 at L0, snappy
            1, 0xAC, 0x02, 1, 2,                                           // create 300 at L1, zstd
            2, 5, 0, 0,                                                    // delete 5 at L0
        ]
        #expect(try fileBytes(joinPath(tmp.path, "MANIFEST")) == expected)
        #expect(ManifestChange.Op.create.rawValue == 1 && ManifestChange.Op.delete.rawValue == 2)
    }

    @Test func replayOfCreatesAndDeletesAcrossReopen() throws {
        let tmp = ManifestTempDir()
        defer { tmp.remove() }
        var (m, _) = try Manifest.open(fs: fs, dir: tmp.path, readOnly: false, logger: logger)
        try m.apply([.create(1, level: 0, compression: .none), .create(2, level: 0, compression: .lz4)])
        try m.apply([.create(3, level: 1, compression: .zstd), .delete(1, level: 0)])
        // A move: delete and create of one id in one record.
        try m.apply([.delete(2, level: 0), .create(2, level: 1, compression: .lz4)])
        // Nonsense is refused before anything is written.
        for bad: [ManifestChange] in [[.delete(99, level: 0)], [.create(3, level: 2, compression: .none)],
                                      [.delete(3, level: 4)],
                                      [.create(10, level: 0, compression: .none), .delete(11, level: 0)]] {
            let e = try #require(throws: SettError.self) { try m.apply(bad) }
            #expect(e.code == .invalidArgument)
        }
        let live = m.state
        m.close()
        #expect(throws: SettError.self) { try m.apply([.create(7, level: 0, compression: .none)]) }

        var s: ManifestState
        (m, s) = try Manifest.open(fs: fs, dir: tmp.path, readOnly: false, logger: logger)
        #expect(tables(s) == [2: [1, 3], 3: [1, 2]])
        #expect(tables(s) == tables(live))
        #expect(s.creations == 4 && s.deletions == 2 && s.maxTableId == 3)
        try m.apply([.create(4, level: 0, compression: .snappy)])
        m.close()

        let ro: Manifest
        (ro, s) = try Manifest.open(fs: fs, dir: tmp.path, readOnly: true, logger: logger)
        #expect(tables(s) == [2: [1, 3], 3: [1, 2], 4: [0, 1]])
        let e = try #require(throws: SettError.self) { try ro.apply([.delete(4, level: 0)]) }
        #expect(e.code == .readOnly)
        ro.close()
    }

    @Test func tornFinalRecordTruncated() throws {
        let tmp = ManifestTempDir()
        defer { tmp.remove() }
        let path = joinPath(tmp.path, "MANIFEST")
        var (m, _) = try Manifest.open(fs: fs, dir: tmp.path, readOnly: false, logger: logger)
        try m.apply([.create(1, level: 0, compression: .none)])
        let goodEnd = try fs.open(path, .readOnly).size()
        try m.apply([.create(2, level: 0, compression: .none), .create(3, level: 0, compression: .none)])
        m.close()
        let full = try fileBytes(path)

        // Every cut inside the last record (header or payload) is a torn tail.
        for cut in Int(goodEnd) + 1 ..< full.count {
            let f = try fs.open(path, .readWrite)
            try f.write(full, at: 0)
            try f.truncate(to: Int64(cut))
            f.close()
            // Read-only sees the good prefix and leaves the file as it is.
            var (ro, s) = try Manifest.open(fs: fs, dir: tmp.path, readOnly: true, logger: logger)
            ro.close()
            #expect(tables(s) == [1: [0, 0]])
            #expect(try fs.open(path, .readOnly).size() == Int64(cut))

            let sink = ManifestLogCapture.Sink()
            let logged = Logger(label: "test") { _ in ManifestLogCapture(sink: sink) }
            (m, s) = try Manifest.open(fs: fs, dir: tmp.path, readOnly: false, logger: logged)
            #expect(tables(s) == [1: [0, 0]])
            #expect(try fs.open(path, .readOnly).size() == goodEnd)
            #expect(sink.all.contains { $0.contains(path) && $0.contains("offset \(goodEnd)") })
            m.close()
        }
        // A zero-filled tail (file extended, data lost) is a torn tail as well.
        let z = try fs.open(path, .readWrite)
        try z.write([UInt8](repeating: 0, count: 40), at: goodEnd)
        z.close()
        let (zm, zs) = try Manifest.open(fs: fs, dir: tmp.path, readOnly: false, logger: logger)
        zm.close()
        #expect(tables(zs) == [1: [0, 0]])
        #expect(try fs.open(path, .readOnly).size() == goodEnd)
        // A bad checksum in the last record is a torn tail too; appends continue after the good prefix.
        try fs.open(path, .readWrite).write(Array(full[Int(goodEnd)...]), at: goodEnd)
        var last = try fileBytes(path)
        last[last.count - 1] ^= 0xFF
        try fs.open(path, .readWrite).write(last, at: 0)
        var s: ManifestState
        (m, s) = try Manifest.open(fs: fs, dir: tmp.path, readOnly: false, logger: logger)
        #expect(tables(s) == [1: [0, 0]])
        try m.apply([.create(4, level: 2, compression: .none)])
        m.close()
        (m, s) = try Manifest.open(fs: fs, dir: tmp.path, readOnly: false, logger: logger)
        #expect(tables(s) == [1: [0, 0], 4: [2, 0]])
        m.close()
    }

    @Test func corruptMiddleRecordErrorsWithFileAndOffset() throws {
        let tmp = ManifestTempDir()
        defer { tmp.remove() }
        let path = joinPath(tmp.path, "MANIFEST")
        let (m, _) = try Manifest.open(fs: fs, dir: tmp.path, readOnly: false, logger: logger)
        try m.apply([.create(1, level: 0, compression: .none)])
        let second = try fs.open(path, .readOnly).size()
        try m.apply([.create(2, level: 0, compression: .none)])
        try m.apply([.create(3, level: 0, compression: .none)])
        m.close()
        let good = try fileBytes(path)

        var flipped = good
        flipped[Int(second) + 9] ^= 0x01   // a payload byte of the second record
        try fs.open(path, .readWrite).write(flipped, at: 0)
        for readOnly in [true, false] {
            let e = try #require(throws: SettError.self) {
                try Manifest.open(fs: fs, dir: tmp.path, readOnly: readOnly, logger: logger)
            }
            #expect(e.code == .corruption && e.file == path && e.offset == second)
        }
        #expect(try fileBytes(path) == flipped)   // nothing was truncated

        // A well-formed record whose change makes no sense (delete of an unknown table).
        var w = ByteWriter()
        w.append(Array(good[0 ..< Int(second)]))
        let bogus = w.count
        ManifestFormat.encodeRecord([.delete(42, level: 0)], into: &w)
        w.append(Array(good[Int(second)...]))
        let f = try fs.open(path, .readWrite)
        try f.truncate(to: 0)
        try f.write(w.bytes, at: 0)
        f.close()
        var e = try #require(throws: SettError.self) {
            try Manifest.open(fs: fs, dir: tmp.path, readOnly: false, logger: logger)
        }
        #expect(e.code == .corruption && e.file == path && e.offset == Int64(bogus))
        #expect(e.message.contains("42"))

        // A bad header.
        var header = good
        header[0] = 0x58
        try fs.open(path, .readWrite).write(header, at: 0)
        e = try #require(throws: SettError.self) {
            try Manifest.open(fs: fs, dir: tmp.path, readOnly: false, logger: logger)
        }
        #expect(e.code == .corruption && e.file == path && e.offset == 0)
    }

    @Test func rewriteTriggeredByDeletionsKeepsExactlyTheLiveTables() throws {
        let tmp = ManifestTempDir()
        defer { tmp.remove() }
        let path = joinPath(tmp.path, "MANIFEST")
        var (m, _) = try Manifest.open(fs: fs, dir: tmp.path, readOnly: false, logger: logger,
                                       rewriteMinDeletions: 5, rewriteRatio: 2)
        try m.apply([.create(100, level: 3, compression: .zstd), .create(101, level: 2, compression: .lz4)])
        var next: UInt64 = 1
        var sizes: [Int64] = []
        var rewrites = 0
        for _ in 0 ..< 12 {
            try m.apply([.create(next, level: 0, compression: .snappy)])
            try m.apply([.delete(next, level: 0)])
            next += 1
            let size = try fs.open(path, .readOnly).size()
            if let prev = sizes.last, size < prev { rewrites += 1 }
            sizes.append(size)
        }
        // Deletions > 5 and > 2 x 2 live tables: rewritten at the 6th deletion, then again at the 12th.
        #expect(rewrites == 2)
        let s = m.state
        #expect(tables(s) == [100: [3, 2], 101: [2, 3]])
        #expect(s.deletions == 0 && s.creations == 2)
        #expect(!fs.exists(joinPath(tmp.path, "MANIFEST-REWRITE")))
        try m.apply([.create(200, level: 1, compression: .none)])
        m.close()

        var state: ManifestState
        (m, state) = try Manifest.open(fs: fs, dir: tmp.path, readOnly: false, logger: logger,
                                       rewriteMinDeletions: 5, rewriteRatio: 2)
        #expect(tables(state) == [100: [3, 2], 101: [2, 3], 200: [1, 0]])
        #expect(state.maxTableId == 200)
        m.close()

        // A rewrite that happened exactly now holds the header and one record of creates.
        let tmp2 = ManifestTempDir()
        defer { tmp2.remove() }
        (m, _) = try Manifest.open(fs: fs, dir: tmp2.path, readOnly: false, logger: logger,
                                   rewriteMinDeletions: 1, rewriteRatio: 1)
        try m.apply([.create(7, level: 1, compression: .snappy), .create(8, level: 0, compression: .none),
                     .create(9, level: 0, compression: .none)])
        try m.apply([.delete(8, level: 0), .delete(9, level: 0)])
        m.close()
        var w = ByteWriter()
        w.append(ManifestFormat.encodeHeader())
        ManifestFormat.encodeRecord([.create(7, level: 1, compression: .snappy)], into: &w)
        #expect(try fileBytes(joinPath(tmp2.path, "MANIFEST")) == w.bytes)
        (m, state) = try Manifest.open(fs: fs, dir: tmp2.path, readOnly: false, logger: logger)
        #expect(tables(state) == [7: [1, 1]] && state.creations == 1 && state.deletions == 0)
        m.close()
    }

    @Test func leftoverRewriteFileIsRemovedOnOpen() throws {
        let tmp = ManifestTempDir()
        defer { tmp.remove() }
        var (m, _) = try Manifest.open(fs: fs, dir: tmp.path, readOnly: false, logger: logger)
        try m.apply([.create(1, level: 0, compression: .none)])
        m.close()
        let junk = try fs.open(joinPath(tmp.path, "MANIFEST-REWRITE"), .createNew)
        try junk.write([1, 2, 3], at: 0)
        junk.close()
        var s: ManifestState
        (m, s) = try Manifest.open(fs: fs, dir: tmp.path, readOnly: false, logger: logger)
        #expect(tables(s) == [1: [0, 0]])
        #expect(!fs.exists(joinPath(tmp.path, "MANIFEST-REWRITE")))
        m.close()
        // Read-only on an empty directory writes nothing.
        let empty = ManifestTempDir()
        defer { empty.remove() }
        (m, s) = try Manifest.open(fs: fs, dir: empty.path, readOnly: true, logger: logger)
        #expect(s.tables.isEmpty)
        #expect(try fs.list(empty.path).isEmpty)
        m.close()
    }
}
