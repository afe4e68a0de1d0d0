import Logging

/// Appends encoded WAL records (see `Format/WALRecord.swift`) to one WAL file.
///
/// Thread safety: one writer thread at a time (the commit writer); `size` may be read
/// by others for statistics but is only meaningful on the writer thread. A failed
/// append leaves `size` unchanged, so the next append overwrites whatever part of the
/// failed write reached the file.
final class WALWriter: @unchecked Sendable {
    let path: String
    let fileId: UInt64
    private let file: any StorageFile
    private(set) var size: Int64
    private var closed = false

    private init(file: any StorageFile, path: String, fileId: UInt64, size: Int64) {
        self.file = file
        self.path = path
        self.fileId = fileId
        self.size = size
    }

    /// Creates a new WAL (failing if the file exists), writes and syncs its header, and
    /// syncs the directory so the file survives a crash.
    static func create(fs: any FileSystem, path: String, fileId: UInt64) throws -> WALWriter {
        let file = try fs.open(path, .createNew)
        do {
            try file.write(WALRecord.header(fileId: fileId), at: 0)
            try file.sync()
            try fs.syncDirectory(parentDirectory(path))
        } catch {
            file.close()
            try? fs.remove(path)
            throw error
        }
        return WALWriter(file: file, path: path, fileId: fileId, size: Int64(WALRecord.headerSize))
    }

    /// Continues an existing, already replayed WAL whose valid bytes end at `size`.
    static func resume(file: any StorageFile, fileId: UInt64, size: Int64) -> WALWriter {
        WALWriter(file: file, path: file.path, fileId: fileId, size: size)
    }

    /// Writes one or more encoded records at the tail with one pwrite.
    func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        if closed { throw SettError(.closed, "WAL is closed", file: path) }
        try file.write(bytes, at: size)
        size += Int64(bytes.count)
    }

    func append(_ w: ByteWriter) throws {
        try w.bytes.withUnsafeBytes { try append($0) }
    }

    /// Makes every appended record durable.
    func sync() throws {
        if closed { throw SettError(.closed, "WAL is closed", file: path) }
        try file.sync()
    }

    func close() {
        if !closed {
            closed = true
            file.close()
        }
    }

    deinit { close() }
}

/// What a replay found.
struct WALReplayResult: Sendable, Equatable {
    /// Complete, checksum-valid records replayed.
    var records = 0
    var entries = 0
    /// Highest entry version replayed (0 when none).
    var maxVersion: UInt64 = 0
    /// Offset where the valid log ends (header + complete records).
    var validEnd: Int64 = 0
    /// Size of the file before replay.
    var fileSize: Int64 = 0
    /// A torn or corrupt tail was found after `validEnd` (and, unless read-only, cut off).
    var truncated = false
}

/// Replays a WAL: calls `body` for each complete, checksum-valid record in order, with
/// entries borrowed for the call. At the first torn or corrupt record the file is
/// truncated there (unless `readOnly`), a warning naming file and offset is logged, and
/// replay stops. A bad header (wrong magic, format or fileId) throws `.corruption`
/// naming the file; a missing file throws `.notFound`.
func replayWAL(fs: any FileSystem, path: String, expectedFileId: UInt64, readOnly: Bool, logger: Logger,
               body: (WALBatchView) throws -> Void) throws -> WALReplayResult {
    let (file, scan) = try WALScan.open(fs: fs, path: path, expectedFileId: expectedFileId, readOnly: readOnly,
                                        logger: logger)
    defer { file.close() }
    return try scan.replay(body)
}

/// A WAL read into memory and checked: the valid records and where the log ends.
struct WALScan {
    struct Record {
        var offset: Int
        var entriesStart: Int
        var end: Int
        var count: Int
    }

    let path: String
    let fileId: UInt64
    let bytes: [UInt8]
    private(set) var records: [Record] = []
    private(set) var validEnd = 0
    /// Why the log ends before the file does; nil when it ends cleanly.
    private(set) var tailProblem: String?
    /// The file is shorter than its header (a creation torn by a crash).
    private(set) var headerTorn = false

    /// Reads and checks the whole file. Throws `.corruption` for a bad header or a
    /// checksum-valid record that breaks the grammar.
    init(path: String, bytes: [UInt8], expectedFileId: UInt64) throws {
        self.path = path
        self.fileId = expectedFileId
        self.bytes = bytes
        validEnd = WALRecord.headerSize
        let expected = WALRecord.header(fileId: expectedFileId)
        if bytes.count < WALRecord.headerSize {
            guard bytes.elementsEqual(expected.prefix(bytes.count)) else {
                throw SettError.corruption("WAL header is short (\(bytes.count) bytes) and does not match", file: path,
                                           offset: 0)
            }
            headerTorn = true
            tailProblem = "incomplete header"
            return
        }
        if !bytes[0 ..< 7].elementsEqual(WALRecord.magic[0 ..< 7]) {
            throw SettError.corruption("not a WAL file (bad magic)", file: path, offset: 0)
        }
        if bytes[7] != WALRecord.magic[7] {
            throw SettError.corruption("unsupported WAL format version \(bytes[7])", file: path, offset: 7)
        }
        if !bytes[8 ..< 16].elementsEqual(expected[8 ..< 16]) {
            let found = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) }
            throw SettError.corruption("WAL belongs to file id \(found), expected \(expectedFileId)", file: path,
                                       offset: 8)
        }
        var pos = WALRecord.headerSize
        try bytes.withUnsafeBytes { raw in
            while pos < raw.count {
                let left = raw.count - pos
                if left < WALRecord.recordHeaderSize {
                    tailProblem = "incomplete record header"
                    break
                }
                let crc = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: pos, as: UInt32.self))
                let length = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: pos + 4, as: UInt32.self)))
                if length > left - WALRecord.recordHeaderSize {
                    tailProblem = "record of \(length) bytes runs past the end of the file"
                    break
                }
                let end = pos + WALRecord.recordHeaderSize + length
                let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(pos + 4) ..< end]))
                if actual != crc {
                    tailProblem = "checksum mismatch"
                    break
                }
                let payloadStart = pos + WALRecord.recordHeaderSize
                let payload = UnsafeRawBufferPointer(rebasing: raw[payloadStart ..< end])
                let checked: (count: Int, entriesStart: Int)
                do {
                    checked = try WALRecord.validate(payload: payload)
                } catch let e as SettError {
                    var e = e
                    e.message = "checksum-valid WAL record breaks the format: " + e.message
                    e.file = path
                    e.offset = Int64(payloadStart) + (e.offset ?? 0)
                    throw e
                }
                records.append(Record(offset: pos, entriesStart: payloadStart + checked.entriesStart, end: end,
                                      count: checked.count))
                pos = end
            }
        }
        validEnd = records.last?.end ?? WALRecord.headerSize
    }

    var totalEntries: Int { records.reduce(0) { $0 + $1.count } }

    /// Opens `path`, scans it, and repairs a torn tail: truncates it (or rewrites a torn
    /// header) unless `readOnly`, logging a warning either way. Returns the open file
    /// (read-write unless `readOnly`) positioned for appends at `validEnd`.
    static func open(fs: any FileSystem, path: String, expectedFileId: UInt64, readOnly: Bool,
                     logger: Logger) throws -> (any StorageFile, WALScan) {
        guard fs.exists(path) else { throw SettError(.notFound, "WAL file is missing", file: path) }
        let file = try fs.open(path, readOnly ? .readOnly : .readWrite)
        do {
            let size = try file.size()
            guard size < Int64(Int.max) else { throw SettError.corruption("WAL too large", file: path, offset: nil) }
            let bytes = try file.readExactly(Int(size), at: 0)
            let scan = try WALScan(path: path, bytes: bytes, expectedFileId: expectedFileId)
            try scan.repairTail(file: file, readOnly: readOnly, logger: logger)
            return (file, scan)
        } catch {
            file.close()
            throw error
        }
    }

    private func repairTail(file: any StorageFile, readOnly: Bool, logger: Logger) throws {
        if headerTorn {
            if !readOnly {
                try file.truncate(to: 0)
                try file.write(WALRecord.header(fileId: fileId), at: 0)
                try file.sync()
            }
            logger.warning("WAL header incomplete (creation interrupted); replayed as empty",
                           metadata: ["file": "\(path)", "offset": "0", "bytes": "\(bytes.count)",
                                      "action": "\(readOnly ? "ignored (read-only)" : "header rewritten")"])
            return
        }
        guard let problem = tailProblem else { return }
        let dropped = bytes.count - validEnd
        if !readOnly {
            try file.truncate(to: Int64(validEnd))
            try file.sync()
        }
        logger.warning("WAL torn or corrupt tail \(readOnly ? "ignored (read-only)" : "truncated")",
                       metadata: ["file": "\(path)", "offset": "\(validEnd)", "reason": "\(problem)",
                                  "bytes": "\(dropped)"])
    }

    /// Calls `body` with every valid record in order.
    func replay(_ body: (WALBatchView) throws -> Void) throws -> WALReplayResult {
        var result = WALReplayResult()
        result.fileSize = Int64(bytes.count)
        result.validEnd = Int64(validEnd)
        result.truncated = tailProblem != nil && bytes.count > 0
        try bytes.withUnsafeBytes { raw in
            for rec in records {
                let view = WALBatchView(entries: UnsafeRawBufferPointer(rebasing: raw[rec.entriesStart ..< rec.end]),
                                        count: rec.count, fileOffset: Int64(rec.offset))
                view.forEach { _, version, _ in result.maxVersion = max(result.maxVersion, version) }
                try body(view)
                result.records += 1
                result.entries += rec.count
            }
        }
        return result
    }
}

/// The directory part of `path` ("." when it has none).
func parentDirectory(_ path: String) -> String {
    guard let i = path.lastIndex(of: "/") else { return "." }
    return i == path.startIndex ? "/" : String(path[..<i])
}
