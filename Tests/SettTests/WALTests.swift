import Foundation
import Logging
import Synchronization
import Testing
@testable import Sett

/// A unique temp directory, removed by `cleanup()`.
struct WALTempDir {
    let path: String
    init(_ name: String = #function) {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        path = NSTemporaryDirectory() + "sett-\(safe)-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

/// Captures log messages (with metadata) for assertions.
final class WALCapturedLogs: @unchecked Sendable {
    let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    var logger: Logger {
        Logger(label: "test") { _ in CaptureHandler(sink: self) }
    }
    struct CaptureHandler: LogHandler {
        let sink: WALCapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let level = event.level, message = event.message
            let md = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            sink.lines.withLock { $0.append("\(level) \(message) \(md)") }
        }
    }
}

let walQuietLogger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

/// Bitwise CRC32C, independent of the engine's, to pin the golden bytes.
func walReferenceCRC32C(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        crc ^= UInt32(b)
        for _ in 0 ..< 8 { crc = (crc >> 1) ^ ((crc & 1) != 0 ? 0x82F6_3B78 : 0) }
    }
    return crc ^ 0xFFFF_FFFF
}

func walFileBytes(_ path: String) -> [UInt8] { Array(FileManager.default.contents(atPath: path) ?? Data()) }
func walWriteFileBytes(_ path: String, _ bytes: [UInt8]) { _ = FileManager.default.createFile(atPath: path, contents: Data(bytes)) }

/// Batch i of the round-trip tests: 1 + i % 3 entries with distinct versions.
func walSampleBatch(_ i: Int) -> EntryBatch {
    var b = EntryBatch()
    for j in 0 ... (i % 3) {
        let v = UInt64(i * 10 + j + 1)
        if j == 2 {
            b.delete(Array("key\(i)".utf8), version: v)
        } else {
            b.set(Array("key\(i)".utf8), Array("value \(i).\(j)".utf8), version: v, userMeta: UInt8(j),
                  expiresAt: UInt64(j * 1000))
        }
    }
    return b
}

func walEncodeRecord(_ b: EntryBatch, _ pointers: [ValuePointer?] = []) -> [UInt8] {
    var w = ByteWriter()
    WALRecord.encode(batch: b, pointers: pointers, into: &w)
    return w.bytes
}

/// Replays into a list of (batch index, user key, version, meta, value) tuples.
func walReplayAll(_ path: String, fileId: UInt64 = 7, readOnly: Bool = false, logger: Logger = walQuietLogger)
    throws -> ([[String]], WALReplayResult)
{
    var batches: [[String]] = []
    let r = try replayWAL(fs: PosixFileSystem.shared, path: path, expectedFileId: fileId, readOnly: readOnly,
                          logger: logger) { view in
        var entries: [String] = []
        view.forEach { key, version, value in
            entries.append("\(String(decoding: key, as: UTF8.self))@\(version) m\(value.meta) u\(value.userMeta) "
                + "x\(value.expiresAt) \(String(decoding: value.bytes, as: UTF8.self))")
        }
        #expect(entries.count == view.count)
        batches.append(entries)
    }
    return (batches, r)
}

func walExpectedEntries(_ b: EntryBatch) -> [String] {
    var out: [String] = []
    b.forEach { s, k, v in
        out.append("\(String(decoding: k, as: UTF8.self))@\(s.version) m\(s.meta) u\(s.userMeta) x\(s.expiresAt) "
            + "\(String(decoding: v, as: UTF8.self))")
    }
    return out
}

@Suite struct WALTests {
    @Test func walGoldenBytes() {
        var b = EntryBatch()
        b.set(Array("a".utf8), Array("bc".utf8), version: 2, userMeta: 5, expiresAt: 300)
        b.delete(Array("d".utf8), version: 3)
        b.set(Array("e".utf8), Array("big value elsewhere".utf8), version: 4)
        let bytes = walEncodeRecord(b, [nil, nil, ValuePointer(fid: 1, len: 2, offset: 3)])
        let payload: [UInt8] = [3,
                                0x00, 0x05, 2, 0, 0, 0, 0, 0, 0, 0, 0xAC, 0x02, 1, 2, 0x61, 0x62, 0x63,
                                0x01, 0x00, 3, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0x64,
                                0x02, 0x00, 4, 0, 0, 0, 0, 0, 0, 0, 0, 1, 12, 0x65, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0]
        let expected: [UInt8] = [0x01, 0x3F, 0x6F, 0x3B, 58, 0, 0, 0] + payload
        #expect(bytes == expected)
        #expect(walReferenceCRC32C([58, 0, 0, 0] + payload) == 0x3B6F_3F01)
        #expect(WALRecord.header(fileId: 0x0102) == [0x53, 0x45, 0x54, 0x54, 0x57, 0x41, 0x4C, 0x01, 2, 1, 0, 0, 0, 0, 0, 0])
    }

    @Test func walReplayRoundTrip() throws {
        let dir = WALTempDir()
        defer { dir.cleanup() }
        let path = dir.file("000007.wal")
        let w = try WALWriter.create(fs: PosixFileSystem.shared, path: path, fileId: 7)
        #expect(w.size == 16)
        var all: [[String]] = []
        // Several records in one append, then one per append.
        var group = ByteWriter()
        for i in 0 ..< 5 {
            WALRecord.encode(batch: walSampleBatch(i), pointers: [], into: &group)
            all.append(walExpectedEntries(walSampleBatch(i)))
        }
        try w.append(group)
        for i in 5 ..< 40 {
            try walEncodeRecord(walSampleBatch(i)).withUnsafeBytes { try w.append($0) }
            all.append(walExpectedEntries(walSampleBatch(i)))
        }
        try w.sync()
        let size = w.size
        w.close()
        #expect(Int64(walFileBytes(path).count) == size)

        let logs = WALCapturedLogs()
        let (batches, r) = try walReplayAll(path, logger: logs.logger)
        #expect(batches == all)
        #expect(r.records == 40)
        #expect(r.entries == all.reduce(0) { $0 + $1.count })
        #expect(r.validEnd == size && r.fileSize == size)
        #expect(!r.truncated)
        #expect(r.maxVersion == 39 * 10 + 1)
        #expect(logs.all.isEmpty)
    }

    @Test func walTornTailTruncated() throws {
        let dir = WALTempDir()
        defer { dir.cleanup() }
        let path = dir.file("000007.wal")
        let w = try WALWriter.create(fs: PosixFileSystem.shared, path: path, fileId: 7)
        var ends: [Int64] = []
        for i in 0 ..< 4 {
            try w.append(walEncodeRecordWriter(walSampleBatch(i)))
            ends.append(w.size)
        }
        w.close()
        // Cut at every byte inside the last record: replay yields the first three.
        for cut in ends[2] + 1 ..< ends[3] {
            let copy = dir.file("cut.wal")
            walWriteFileBytes(copy, Array(walFileBytes(path)[0 ..< Int(cut)]))
            let logs = WALCapturedLogs()
            let (batches, r) = try walReplayAll(copy, logger: logs.logger)
            #expect(batches == (0 ..< 3).map { walExpectedEntries(walSampleBatch($0)) })
            #expect(r.truncated && r.validEnd == ends[2] && r.fileSize == cut)
            #expect(Int64(walFileBytes(copy).count) == ends[2])
            #expect(logs.all.count == 1)
            #expect(logs.all.first?.contains(copy) == true)
            #expect(logs.all.first?.contains("offset=\(ends[2])") == true)
        }
        // After truncation, appending through a memtable replay continues the log.
        let cutPath = dir.file("000009.wal")
        var bytes = walFileBytes(path)
        bytes.replaceSubrange(8 ..< 16, with: [9, 0, 0, 0, 0, 0, 0, 0])
        walWriteFileBytes(cutPath, Array(bytes[0 ..< Int(ends[3] - 3)]))
        let m = try Memtable.replay(fs: PosixFileSystem.shared, dir: dir.path, fileId: 9, arenaSize: 1 << 16,
                                    readOnly: false, logger: walQuietLogger)
        #expect(m.wal?.size == ends[2])
        try m.wal!.append(walEncodeRecordWriter(walSampleBatch(10)))
        m.wal!.close()
        let (batches, r) = try walReplayAll(cutPath, fileId: 9)
        #expect(batches == [0, 1, 2, 10].map { walExpectedEntries(walSampleBatch($0)) })
        #expect(!r.truncated)
    }

    @Test func walCorruptChecksumInLastRecordTruncated() throws {
        let dir = WALTempDir()
        defer { dir.cleanup() }
        let path = dir.file("000007.wal")
        let w = try WALWriter.create(fs: PosixFileSystem.shared, path: path, fileId: 7)
        for i in 0 ..< 3 { try w.append(walEncodeRecordWriter(walSampleBatch(i))) }
        let twoEnd = Int(w.size)
        try w.append(walEncodeRecordWriter(walSampleBatch(3)))
        w.close()
        var bytes = walFileBytes(path)
        bytes[bytes.count - 2] ^= 0x40  // flip a bit in the last record's payload
        walWriteFileBytes(path, bytes)

        // Read-only: reported, file untouched.
        let roLogs = WALCapturedLogs()
        let (roBatches, ro) = try walReplayAll(path, readOnly: true, logger: roLogs.logger)
        #expect(roBatches.count == 3 && ro.truncated)
        #expect(walFileBytes(path) == bytes)
        #expect(roLogs.all.first?.contains("checksum mismatch") == true)

        let logs = WALCapturedLogs()
        let (batches, r) = try walReplayAll(path, logger: logs.logger)
        #expect(batches == (0 ..< 3).map { walExpectedEntries(walSampleBatch($0)) })
        #expect(r.truncated && r.records == 3 && r.validEnd == Int64(twoEnd))
        #expect(walFileBytes(path).count == twoEnd)
        #expect(logs.all.count == 1 && logs.all[0].hasPrefix("warning") && logs.all[0].contains(path))
    }

    @Test func walBadHeaderGivesCorruptionNamingFile() throws {
        let dir = WALTempDir()
        defer { dir.cleanup() }
        let path = dir.file("000007.wal")
        let w = try WALWriter.create(fs: PosixFileSystem.shared, path: path, fileId: 7)
        try w.append(walEncodeRecordWriter(walSampleBatch(1)))
        w.close()
        let good = walFileBytes(path)

        func expectCorruption(_ bytes: [UInt8], fileId: UInt64 = 7, _ what: String) {
            walWriteFileBytes(path, bytes)
            do {
                _ = try walReplayAll(path, fileId: fileId)
                Issue.record("no error for \(what)")
            } catch let e as SettError {
                #expect(e.code == .corruption, "\(what)")
                #expect(e.file == path, "\(what)")
                #expect(e.description.contains(path))
            } catch {
                Issue.record("unexpected \(error)")
            }
            #expect(walFileBytes(path) == bytes, "file must be left alone: \(what)")
        }
        var badMagic = good
        badMagic[0] = 0x58
        expectCorruption(badMagic, "bad magic")
        var badFormat = good
        badFormat[7] = 2
        expectCorruption(badFormat, "unknown format version")
        expectCorruption(good, fileId: 8, "wrong file id")
        expectCorruption([0x53, 0x45, 0x58], "short garbage")

        // Missing file.
        #expect(throws: SettError.self) { _ = try walReplayAll(dir.file("000099.wal"), fileId: 99) }
    }

    @Test func walTornHeaderReplaysAsEmpty() throws {
        let dir = WALTempDir()
        defer { dir.cleanup() }
        let path = dir.file(Memtable.walFileName(3))
        walWriteFileBytes(path, Array(WALRecord.header(fileId: 3).prefix(5)))
        let m = try Memtable.replay(fs: PosixFileSystem.shared, dir: dir.path, fileId: 3, arenaSize: 1 << 16,
                                    readOnly: false, logger: walQuietLogger)
        #expect(m.isEmpty)
        #expect(walFileBytes(path) == WALRecord.header(fileId: 3))
        try m.wal!.append(walEncodeRecordWriter(walSampleBatch(4)))
        let (batches, _) = try walReplayAll(path, fileId: 3)
        #expect(batches == [walExpectedEntries(walSampleBatch(4))])
    }

    @Test func walChecksumValidButMalformedRecordIsCorruption() throws {
        let dir = WALTempDir()
        defer { dir.cleanup() }
        let path = dir.file("000007.wal")
        // A payload claiming two entries but holding one, with a correct checksum.
        var payload = Array(walEncodeRecord(walSampleBatch(0))[8...])
        payload[0] = 2
        var rec = ByteWriter()
        rec.u32(0)
        rec.u32(UInt32(payload.count))
        rec.append(payload)
        rec.patchU32(walReferenceCRC32C(Array(rec.bytes[4...])), at: 0)
        walWriteFileBytes(path, WALRecord.header(fileId: 7) + rec.bytes)
        #expect {
            _ = try walReplayAll(path)
        } throws: { e in
            guard let e = e as? SettError else { return false }
            return e.code == .corruption && e.file == path && (e.offset ?? 0) >= 24
        }
    }
}

func walEncodeRecordWriter(_ b: EntryBatch) -> ByteWriter {
    var w = ByteWriter()
    WALRecord.encode(batch: b, pointers: [], into: &w)
    return w
}
