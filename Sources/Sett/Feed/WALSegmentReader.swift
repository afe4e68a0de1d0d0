/// Reads the records of one feed segment (a `.wal` or retained `.log` file, same
/// format: `Format/WALRecord.swift`) sequentially, one record in memory at a time.
///
/// Thread safety: one thread at a time. The file may be appended to concurrently by the
/// commit writer; the caller passes `limit`, the offset up to which bytes are known to
/// be complete (the published end of the live WAL, or the size of a finished segment).
/// The file may be renamed or unlinked while open: the open handle keeps reading.
final class WALSegmentReader {
    enum Step {
        /// A complete, checksum-valid record; `entries` is valid until the next call.
        case record(WALBatchView)
        /// No complete record before `limit`.
        case end
        /// A record that runs past `limit`, or the last record before `limit` failing its
        /// checksum (a torn write). A bad record with more bytes after it throws `.corruption`.
        case torn(String)
    }

    let id: UInt64
    let path: String
    private let file: any StorageFile
    private(set) var offset = Int64(WALRecord.headerSize)
    private var headerChecked = false
    /// Holds the current record (owned; grows to the largest record seen).
    private var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 8)

    private init(id: UInt64, path: String, file: any StorageFile) {
        self.id = id
        self.path = path
        self.file = file
    }

    /// Opens segment `id` in `dir`, whichever of `.log` / `.wal` exists (a `.wal` may be
    /// renamed to `.log` at any moment). Nil when neither exists.
    static func open(fs: any FileSystem, dir: String, id: UInt64) throws -> WALSegmentReader? {
        for _ in 0 ..< 2 {
            for path in [joinPath(dir, FeedLog.logFileName(id)), joinPath(dir, Memtable.walFileName(id))] {
                guard fs.exists(path) else { continue }
                do {
                    return WALSegmentReader(id: id, path: path, file: try fs.open(path, .readOnly))
                } catch let e as SettError where e.code == .notFound || e.errno == 2 {
                    continue  // renamed or deleted between exists and open
                }
            }
        }
        return nil
    }

    func size() throws -> Int64 { try file.size() }

    /// The commit timestamp of the first commit record (value-log rewrites are not
    /// commits), if one is complete before `limit`. Does not move the reader.
    func peekFirstTimestamp(limit: Int64) throws -> UInt64? {
        let saved = offset
        defer { offset = saved }
        offset = Int64(WALRecord.headerSize)
        while case .record(let view) = try next(limit: limit) {
            if !view.isValueLogRewrite { return view.commitTimestamp }
        }
        return nil
    }

    /// Raises `newest` to the highest commit timestamp among the complete records from
    /// the current offset up to `limit` (value-log rewrites are not commits). A torn tail
    /// ends the scan; a damaged record throws, as `next` does, with `newest` covering the
    /// records before it.
    func scanNewestCommit(limit: Int64, into newest: inout UInt64) throws {
        while case .record(let view) = try next(limit: limit) {
            if !view.isValueLogRewrite { newest = max(newest, view.commitTimestamp) }
        }
    }

    /// Reads the record at the current offset if it lies wholly before `limit`.
    /// A checksum-valid record that breaks the grammar throws `.corruption`.
    func next(limit: Int64) throws -> Step {
        let headerSize = WALRecord.recordHeaderSize
        if offset + Int64(headerSize) > limit { return offset >= limit ? .end : .torn("incomplete record header") }
        if !headerChecked { try checkHeader() }
        var head = [UInt8](repeating: 0, count: headerSize)
        let got = try head.withUnsafeMutableBytes { try file.read(into: $0, at: offset) }
        if got < headerSize { return .torn("incomplete record header") }
        let (crc, length) = head.withUnsafeBytes {
            (UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt32.self)),
             Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self))))
        }
        if offset + Int64(headerSize + length) > limit { return .torn("record of \(length) bytes runs past the end") }
        // Buffer: the 4 length bytes, then the payload (the crc covers both).
        if buffer.count < 4 + length {
            buffer.deallocate()
            buffer = .allocate(byteCount: max(4 + length, buffer.count * 2), alignment: 8)
        }
        let raw = UnsafeMutableRawBufferPointer(rebasing: buffer[0 ..< 4 + length])
        let n = try file.read(into: raw, at: offset + 4)
        if n < 4 + length { return .torn("short read") }
        if CRC32C.checksum(UnsafeRawBufferPointer(raw)) != crc {
            // The last record may be a torn write; a bad record with more after it is damage.
            if offset + Int64(headerSize + length) == limit { return .torn("checksum mismatch") }
            throw SettError.corruption("feed segment record checksum mismatch", file: path, offset: offset)
        }
        let recordOffset = offset
        let payload = UnsafeRawBufferPointer(rebasing: raw[4...])
        let checked: (count: Int, entriesStart: Int)
        do {
            checked = try WALRecord.validate(payload: payload)
        } catch let e as SettError {
            var e = e
            e.message = "checksum-valid WAL record breaks the format: " + e.message
            e.file = path
            e.offset = recordOffset + Int64(headerSize) + (e.offset ?? 0)
            throw e
        }
        // `buffer` is not touched until the next call, so the view stays valid until then.
        let view = WALBatchView(entries: UnsafeRawBufferPointer(rebasing: payload[checked.entriesStart...]),
                                count: checked.count, fileOffset: recordOffset)
        offset += Int64(headerSize + length)
        return .record(view)
    }

    private func checkHeader() throws {
        let bytes = try file.readExactly(WALRecord.headerSize, at: 0)
        let expected = WALRecord.header(fileId: id)
        guard bytes == expected else {
            throw SettError.corruption("feed segment header does not match (magic, version or file id \(id))",
                                       file: path, offset: 0)
        }
        headerChecked = true
    }

    func close() { file.close() }

    deinit {
        file.close()
        buffer.deallocate()
    }
}

extension WALBatchView {
    /// The batch's commit timestamp: the highest version among its entries.
    var commitTimestamp: UInt64 {
        var ts: UInt64 = 0
        forEach { _, version, _ in if version > ts { ts = version } }
        return ts
    }
}
