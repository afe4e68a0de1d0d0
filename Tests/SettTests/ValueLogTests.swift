import Dispatch
import Glibc
import Logging
import Synchronization
import Testing
@testable import Sett

/// The shared test directory (TestSupport.swift).
private typealias VlogTempDir = TempDir

/// Collects log messages so tests can assert what was logged.
private struct CapturingLogHandler: LogHandler {
    let sink: Sink
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    final class Sink: Sendable {
        let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        sink.lines.withLock { $0.append("\(event.level): \(event.message)") }
    }
}

private func vlogOptions(_ dir: String, fileSize: Int = 1 << 20, maxEntries: Int = 1_000_000,
                         verify: Bool = false, readOnly: Bool = false,
                         sink: CapturingLogHandler.Sink? = nil) -> Options {
    var o = Options(dir: dir)
    o.valueLogFileSize = fileSize
    o.valueLogMaxEntries = maxEntries
    o.verifyValueChecksum = verify
    o.readOnly = readOnly
    if let sink { o.logger = Logger(label: "test") { _ in CapturingLogHandler(sink: sink) } }
    return o
}

private func value(_ seed: Int, _ n: Int) -> [UInt8] { (0 ..< n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed) } }

private func fileBytes(_ path: String) throws -> [UInt8] {
    let f = try PosixFileSystem.shared.open(path, .readOnly)
    defer { f.close() }
    return try f.readExactly(Int(try f.size()), at: 0)
}

private func vlogPath(_ dir: String, _ fid: UInt32) -> String { joinPath(dir, ValueLogFormat.fileName(fid)) }

@Suite struct ValueLogTests {
    let fs = PosixFileSystem.shared

    @Test func goldenBytesOfOneEntry() throws {
        let tmp = VlogTempDir()
        defer { tmp.remove() }
        let log = try ValueLog.open(fs: fs, dir: tmp.path, options: vlogOptions(tmp.path))
        var b = EntryBatch()
        b.set(Array("k".utf8), Array("hello".utf8), version: 7, userMeta: 9, expiresAt: 300, discardEarlierVersions: true)
        let ptrs = try log.append(b, threshold: 0)
        try log.close()
        #expect(ptrs == [ValuePointer(fid: 1, len: 24, offset: 24)])
        let expected: [UInt8] = [
            // header: magic, fid 1, keyId 0, reserved 0
            0x53, 0x45, 0x54, 0x54, 0x56, 0x4C, 0x47, 0x01, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            // entry: crc32c, keyLen 1, valueLen 5, meta 4, userMeta 9, expiresAt 300, version 7, key, value
            0x42, 0x0A, 0x06, 0xFF, 1, 5, 4, 9, 0xAC, 0x02, 7, 0, 0, 0, 0, 0, 0, 0,
            0x6B, 0x68, 0x65, 0x6C, 0x6C, 0x6F,
        ]
        #expect(try fileBytes(vlogPath(tmp.path, 1)) == expected)
        #expect(ValueLogFormat.fileName(1) == "000001.vlog")
        #expect(ValueLogFormat.parseFileName("1234567.vlog") == 1_234_567)
        #expect(ValueLogFormat.parseFileName("00001.vlog") == nil)
        #expect(ValueLogFormat.parseFileName("000001.vlog.tmp") == nil)
    }

    @Test func appendReadRoundTripAcrossRotationBySize() throws {
        let tmp = VlogTempDir()
        defer { tmp.remove() }
        let log = try ValueLog.open(fs: fs, dir: tmp.path, options: vlogOptions(tmp.path, fileSize: 4096))
        var expected: [(ValuePointer, [UInt8])] = []
        for i in 0 ..< 20 {
            var b = EntryBatch()
            b.set(Array("big\(i)".utf8), value(i, 700), version: UInt64(i + 1))
            b.set(Array("small\(i)".utf8), value(i, 10), version: UInt64(i + 1))
            b.delete(Array("gone\(i)".utf8), version: UInt64(i + 1))
            b.set(Array("big2-\(i)".utf8), value(i + 100, 900), version: UInt64(i + 1))
            let ptrs = try log.append(b, threshold: 100)
            #expect(ptrs.count == 4)
            #expect(ptrs[1] == nil && ptrs[2] == nil)
            let p0 = try #require(ptrs[0]), p3 = try #require(ptrs[3])
            #expect(p0.fid == p3.fid && p3.offset == p0.offset + p0.len)
            expected.append((p0, value(i, 700)))
            expected.append((p3, value(i + 100, 900)))
        }
        let ids = log.fileIds
        #expect(ids.count > 4)
        #expect(ids == Array(1 ... UInt32(ids.count)))
        for (p, v) in expected { #expect(try log.read(p) == v) }
        for fid in ids.dropLast() {
            // A rotated file stayed at or below the limit.
            #expect(try fs.open(vlogPath(tmp.path, fid), .readOnly).size() <= 4096)
        }
        try log.sync()
        // Iteration sees the entries of a file in order, with their pointers.
        var seen: [ValuePointer] = []
        try log.iterate(fid: 2) { e in
            let read = try log.read(e.pointer)
            #expect(read == Array(e.value))
            seen.append(e.pointer)
            return true
        }
        #expect(seen == expected.map(\.0).filter { $0.fid == 2 })
        try log.close()
    }

    @Test func appendReadRoundTripAcrossRotationByEntryCount() throws {
        let tmp = VlogTempDir()
        defer { tmp.remove() }
        let log = try ValueLog.open(fs: fs, dir: tmp.path, options: vlogOptions(tmp.path, maxEntries: 3))
        var all: [(ValuePointer, [UInt8])] = []
        for i in 0 ..< 5 {
            var b = EntryBatch()
            b.set(Array("a\(i)".utf8), value(i, 50), version: 1)
            b.set(Array("b\(i)".utf8), value(i + 7, 60), version: 1)
            let ptrs = try log.append(b, threshold: 1).map { $0! }
            // Two entries per batch, at most three per file: every batch starts a new file.
            #expect(ptrs.map(\.fid) == [UInt32(i + 1), UInt32(i + 1)])
            all += [(ptrs[0], value(i, 50)), (ptrs[1], value(i + 7, 60))]
        }
        #expect(log.fileIds == [1, 2, 3, 4, 5])
        for (p, v) in all { #expect(try log.read(p) == v) }
        // A batch where nothing qualifies writes nothing.
        var small = EntryBatch()
        small.set(Array("x".utf8), value(0, 5), version: 1)
        small.delete(Array("y".utf8), version: 1)
        let before = log.totalBytes
        #expect(try log.append(small, threshold: 6) == [])
        #expect(log.totalBytes == before)
        try log.close()
    }

    @Test func reopenContinuesAppending() throws {
        let tmp = VlogTempDir()
        defer { tmp.remove() }
        var b1 = EntryBatch()
        b1.set(Array("one".utf8), value(1, 300), version: 1)
        var log = try ValueLog.open(fs: fs, dir: tmp.path, options: vlogOptions(tmp.path))
        let p1 = try #require(try log.append(b1, threshold: 0)[0])
        try log.close()

        log = try ValueLog.open(fs: fs, dir: tmp.path, options: vlogOptions(tmp.path))
        var b2 = EntryBatch()
        b2.set(Array("two".utf8), value(2, 400), version: 2)
        let p2 = try #require(try log.append(b2, threshold: 0)[0])
        #expect(p2.fid == p1.fid && p2.offset == p1.offset + p1.len)
        #expect(try log.read(p1) == value(1, 300))
        #expect(try log.read(p2) == value(2, 400))
        try log.close()
        #expect(log.fileIds == [])
        #expect(throws: SettError.self) { try log.append(b2, threshold: 0) }

        // Read-only reopen reads both and refuses to write.
        let ro = try ValueLog.open(fs: fs, dir: tmp.path, options: vlogOptions(tmp.path, readOnly: true))
        #expect(try ro.read(p2) == value(2, 400))
        #expect(try fs.open(vlogPath(tmp.path, 1), .readOnly).size() == Int64(p2.offset + p2.len))
        let e = try #require(throws: SettError.self) { try ro.append(b2, threshold: 0) }
        #expect(e.code == .readOnly)
        try ro.close()
    }

    @Test func tornTailTruncatedOnOpen() throws {
        let tmp = VlogTempDir()
        defer { tmp.remove() }
        var log = try ValueLog.open(fs: fs, dir: tmp.path, options: vlogOptions(tmp.path, fileSize: 2048))
        var ptrs: [ValuePointer] = []
        for i in 0 ..< 6 {
            var b = EntryBatch()
            b.set(Array("k\(i)".utf8), value(i, 500), version: UInt64(i + 1))
            ptrs.append(try #require(try log.append(b, threshold: 0)[0]))
        }
        try log.close()
        let last = try #require(ptrs.last)
        #expect(last.fid > 1)
        // Cut the newest file in the middle of its last entry.
        let path = vlogPath(tmp.path, last.fid)
        let f = try fs.open(path, .readWrite)
        try f.truncate(to: Int64(last.offset + last.len / 2))
        f.close()

        // Read-only open leaves the file alone but does not serve the torn entry.
        let ro = try ValueLog.open(fs: fs, dir: tmp.path, options: vlogOptions(tmp.path, readOnly: true))
        #expect(throws: SettError.self) { try ro.read(last) }
        try ro.close()
        #expect(try fs.open(path, .readOnly).size() == Int64(last.offset + last.len / 2))

        let sink = CapturingLogHandler.Sink()
        log = try ValueLog.open(fs: fs, dir: tmp.path, options: vlogOptions(tmp.path, fileSize: 2048, sink: sink))
        #expect(try fs.open(path, .readOnly).size() == Int64(last.offset))
        #expect(sink.all.contains { $0.contains(path) && $0.contains("offset \(last.offset)") })
        for (i, p) in ptrs.dropLast().enumerated() { #expect(try log.read(p) == value(i, 500)) }
        let e = try #require(throws: SettError.self) { try log.read(last) }
        #expect(e.code == .corruption && e.file == path)
        // The next append takes the place of the lost entry.
        var b = EntryBatch()
        b.set(Array("again".utf8), value(9, 500), version: 9)
        let p = try #require(try log.append(b, threshold: 0)[0])
        #expect(p.fid == last.fid && p.offset == last.offset)
        #expect(try log.read(p) == value(9, 500))
        try log.close()
    }

    @Test func flippedByteDetectedWithVerifyValueChecksum() throws {
        let tmp = VlogTempDir()
        defer { tmp.remove() }
        var log = try ValueLog.open(fs: fs, dir: tmp.path, options: vlogOptions(tmp.path, maxEntries: 2))
        var b = EntryBatch()
        b.set(Array("a".utf8), value(1, 200), version: 1)
        b.set(Array("b".utf8), value(2, 200), version: 1)
        let old = try log.append(b, threshold: 0).map { $0! }
        var b2 = EntryBatch()
        b2.set(Array("c".utf8), value(3, 200), version: 2)
        _ = try log.append(b2, threshold: 0)
        #expect(log.fileIds == [1, 2])
        try log.close()
        // Flip one bit of the second value in the older file (open does not scan it).
        let path = vlogPath(tmp.path, 1)
        let g = try fs.open(path, .readWrite)
        let at = Int64(old[1].offset + old[1].len - 3)
        var byte = try g.readExactly(1, at: at)
        byte[0] ^= 0x01
        try g.write(byte, at: at)
        g.close()

        log = try ValueLog.open(fs: fs, dir: tmp.path, options: vlogOptions(tmp.path, verify: true))
        #expect(try log.read(old[0]) == value(1, 200))
        var e = try #require(throws: SettError.self) { try log.read(old[1]) }
        #expect(e.code == .corruption && e.file == path && e.offset == Int64(old[1].offset))
        #expect(e.message.contains("checksum"))
        try log.close()
        // Without verification the flipped value comes back as stored.
        log = try ValueLog.open(fs: fs, dir: tmp.path, options: vlogOptions(tmp.path, verify: false))
        var flipped = value(2, 200)
        flipped[200 - 3] ^= 0x01
        #expect(try log.read(old[1]) == flipped)
        // Iteration always verifies, and names file and offset.
        e = try #require(throws: SettError.self) { try log.iterate(fid: 1) { _ in true } }
        #expect(e.code == .corruption && e.file == path && e.offset == Int64(old[1].offset))
        try log.close()
    }

    @Test func pointerPastEndOfFileGivesCorruption() throws {
        let tmp = VlogTempDir()
        defer { tmp.remove() }
        let log = try ValueLog.open(fs: fs, dir: tmp.path, options: vlogOptions(tmp.path))
        var b = EntryBatch()
        b.set(Array("a".utf8), value(1, 100), version: 1)
        b.set(Array("b".utf8), value(2, 100), version: 1)
        let p = try log.append(b, threshold: 0).map { $0! }
        let path = vlogPath(tmp.path, 1)
        let bad: [ValuePointer] = [
            ValuePointer(fid: 1, len: p[1].len, offset: p[1].offset + 50),          // runs past the end
            ValuePointer(fid: 1, len: 100, offset: UInt32.max - 10),                // far past the end
            ValuePointer(fid: 1, len: UInt32.max, offset: p[0].offset),             // huge length
            ValuePointer(fid: 1, len: p[0].len - 1, offset: p[0].offset),           // length mismatch
            ValuePointer(fid: 1, len: p[0].len + p[1].len, offset: p[0].offset),    // spans two entries
            ValuePointer(fid: 1, len: p[0].len, offset: p[0].offset + 1),           // not at an entry start
            ValuePointer(fid: 1, len: 30, offset: 0),                               // inside the header
            ValuePointer(fid: 1, len: 0, offset: p[0].offset),                      // empty
        ]
        for ptr in bad {
            let e = try #require(throws: SettError.self) { try log.read(ptr) }
            #expect(e.code == .corruption)
            #expect(e.file == path)
            #expect(e.offset != nil)
        }
        let e = try #require(throws: SettError.self) { try log.read(ValuePointer(fid: 77, len: 40, offset: 24)) }
        #expect(e.code == .corruption && e.file == vlogPath(tmp.path, 77) && e.offset == 24)
        #expect(try log.read(p[1]) == value(2, 100))
        try log.close()
    }

    @Test func discardStatsPersistAcrossReopen() throws {
        let tmp = VlogTempDir()
        defer { tmp.remove() }
        var log = try ValueLog.open(fs: fs, dir: tmp.path, options: vlogOptions(tmp.path, maxEntries: 1))
        for i in 0 ..< 3 {
            var b = EntryBatch()
            b.set(Array("k\(i)".utf8), value(i, 100), version: 1)
            _ = try log.append(b, threshold: 0)
        }
        #expect(log.fileIds == [1, 2, 3])
        log.addDiscard(fid: 1, bytes: 100)
        log.addDiscard(fid: 1, bytes: 23)
        log.addDiscard(fid: 2, bytes: 1 << 40)
        log.addDiscard(fid: 99, bytes: 5)   // no such file: not persisted
        try log.persistDiscardStats()
        log.addDiscard(fid: 3, bytes: 7)    // after the persist: lost on reopen
        try log.close()
        #expect(!fs.exists(joinPath(tmp.path, "DISCARD.tmp")))

        log = try ValueLog.open(fs: fs, dir: tmp.path, options: vlogOptions(tmp.path))
        #expect(log.discardBytes(fid: 1) == 123)
        #expect(log.discardBytes(fid: 2) == 1 << 40)
        #expect(log.discardBytes(fid: 3) == 0)
        #expect(log.discardBytes(fid: 99) == 0)
        // Removing a file forgets its statistics.
        try log.removeFile(fid: 1)
        #expect(log.fileIds == [2, 3])
        #expect(log.discardBytes(fid: 1) == 0)
        #expect(!fs.exists(vlogPath(tmp.path, 1)))
        try log.close()

        // A damaged DISCARD file is logged and ignored: the statistics are only hints.
        let f = try fs.open(joinPath(tmp.path, "DISCARD"), .readWrite)
        try f.write([0xFF], at: 9)
        f.close()
        let sink = CapturingLogHandler.Sink()
        log = try ValueLog.open(fs: fs, dir: tmp.path, options: vlogOptions(tmp.path, sink: sink))
        #expect(log.discardBytes(fid: 2) == 0)
        #expect(sink.all.contains { $0.contains("discard") && $0.contains("DISCARD") })
        try log.close()
    }

    @Test func discardFileGoldenBytes() throws {
        let bytes = DiscardStats.encode([2: 300, 1: 5])
        let body: [UInt8] = [0x53, 0x45, 0x54, 0x54, 0x44, 0x53, 0x43, 0x01, 2, 1, 0, 0, 0, 5, 2, 0, 0, 0, 0xAC, 0x02]
        #expect(Array(bytes.prefix(body.count)) == body)
        #expect(bytes.count == body.count + 4)
        let crc = CRC32C.checksum(body)
        #expect(Array(bytes.suffix(4)) == [UInt8(crc & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc >> 16 & 0xFF),
                                           UInt8(crc >> 24)])
        #expect(try bytes.withUnsafeBytes { try DiscardStats.decode($0, path: "DISCARD") } == [1: 5, 2: 300])
    }

    @Test func badHeaderOfOlderFileIsCorruption() throws {
        let tmp = VlogTempDir()
        defer { tmp.remove() }
        let log = try ValueLog.open(fs: fs, dir: tmp.path, options: vlogOptions(tmp.path, maxEntries: 1))
        for i in 0 ..< 2 {
            var b = EntryBatch()
            b.set(Array("k\(i)".utf8), value(i, 100), version: 1)
            _ = try log.append(b, threshold: 0)
        }
        try log.close()
        let path = vlogPath(tmp.path, 1)
        let f = try fs.open(path, .readWrite)
        try f.write([0x02], at: 8)   // header claims fid 2
        f.close()
        let e = try #require(throws: SettError.self) {
            try ValueLog.open(fs: fs, dir: tmp.path, options: vlogOptions(tmp.path))
        }
        #expect(e.code == .corruption && e.file == path && e.offset == 8)
    }

    @Test func concurrentReadsWhileAppendingAndRotating() throws {
        let tmp = VlogTempDir()
        defer { tmp.remove() }
        let log = try ValueLog.open(fs: fs, dir: tmp.path, options: vlogOptions(tmp.path, fileSize: 8192))
        let published = Mutex<[(ValuePointer, Int)]>([])
        let failures = Mutex<[String]>([])
        let done = Atomic<Bool>(false)
        DispatchQueue.concurrentPerform(iterations: 3) { worker in
            if worker == 0 {
                defer { done.store(true, ordering: .releasing) }
                do {
                    for i in 0 ..< 300 {
                        var b = EntryBatch()
                        b.set(Array("k\(i)".utf8), value(i, 300 + i % 50), version: UInt64(i + 1))
                        let p = try log.append(b, threshold: 0)[0]!
                        published.withLock { $0.append((p, i)) }
                        if i % 50 == 0 { try log.sync() }
                    }
                } catch { failures.withLock { $0.append("append: \(error)") } }
            } else {
                var n = 0
                while !done.load(ordering: .acquiring) || n < 50 {
                    let pick = published.withLock { $0.isEmpty ? nil : $0[(n &* 7919 &+ worker) % $0.count] }
                    n += 1
                    guard let (p, i) = pick else { continue }
                    do {
                        if try log.read(p) != value(i, 300 + i % 50) { failures.withLock { $0.append("value \(i)") } }
                    } catch { failures.withLock { $0.append("read \(i): \(error)") } }
                }
            }
        }
        #expect(failures.withLock { $0 } == [])
        #expect(log.fileIds.count > 5)
        try log.close()
    }
}
