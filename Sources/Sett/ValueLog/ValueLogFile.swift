import Synchronization

/// One value-log file: its handle and the end of its valid bytes.
///
/// Thread safety: `read`/`scan` may run on any thread at any time; `size` is published
/// with release ordering after the bytes below it are written, so a reader that sees a
/// size can read everything before it. Only the value log's writer appends and moves
/// `size`. The handle closes when the last reference goes (or on `close()`), so a reader
/// holding the object keeps reading after the file is dropped from the log.
final class ValueLogFile: Sendable {
    let fid: UInt32
    let path: String
    let file: any StorageFile
    private let end: Atomic<Int>

    /// Bytes of the file that hold the header and valid entries.
    var size: Int { end.load(ordering: .acquiring) }

    init(fid: UInt32, path: String, file: any StorageFile, size: Int) {
        self.fid = fid
        self.path = path
        self.file = file
        self.end = Atomic(size)
    }

    func publishSize(_ n: Int) { end.store(n, ordering: .releasing) }

    /// Creates a new file with its header, durable (file and directory synced) before it returns.
    static func create(fs: any FileSystem, dir: String, fid: UInt32) throws -> ValueLogFile {
        let path = joinPath(dir, ValueLogFormat.fileName(fid))
        let f = try fs.open(path, .createNew)
        do {
            try f.write(ValueLogFormat.encodeHeader(fid: fid), at: 0)
            try f.sync()
            try fs.syncDirectory(dir)
        } catch {
            f.close()
            try? fs.remove(path)
            throw error
        }
        return ValueLogFile(fid: fid, path: path, file: f, size: ValueLogFormat.headerSize)
    }

    /// Opens an existing file and checks its header. `size` is the file's length; the
    /// newest file's valid end is established afterwards by `scanValidEnd`.
    static func open(fs: any FileSystem, path: String, fid: UInt32, writable: Bool) throws -> ValueLogFile {
        let f = try fs.open(path, writable ? .readWrite : .readOnly)
        do {
            let len = try f.size()
            var header = [UInt8](repeating: 0, count: ValueLogFormat.headerSize)
            let n = try header.withUnsafeMutableBytes { try f.read(into: $0, at: 0) }
            try header.withUnsafeBytes {
                try ValueLogFormat.checkHeader(UnsafeRawBufferPointer(rebasing: $0[0 ..< n]), fid: fid, path: path)
            }
            return ValueLogFile(fid: fid, path: path, file: f, size: Int(len))
        } catch {
            f.close()
            throw error
        }
    }

    /// Reads the value of the entry `ptr` names into a new array (one allocation).
    func readValue(_ ptr: ValuePointer, verifyChecksum: Bool) throws -> [UInt8] {
        let len = Int(ptr.len)
        let at = Int(ptr.offset)
        guard at >= ValueLogFormat.headerSize, len >= ValueLogFormat.minEntrySize, at + len <= size else {
            throw SettError.corruption("value pointer (offset \(at), length \(len)) outside the \(size) valid bytes "
                                       + "of the file", file: path, offset: Int64(at))
        }
        return try [UInt8](unsafeUninitializedCapacity: len) { buf, count in
            let raw = UnsafeMutableRawBufferPointer(buf)
            let n = try file.read(into: raw, at: Int64(at))
            guard n == len else {
                throw SettError.corruption("short read of value-log entry: wanted \(len) bytes, got \(n)",
                                           file: path, offset: Int64(at))
            }
            let e = try decode(UnsafeRawBufferPointer(raw), at: at, verifyChecksum: verifyChecksum)
            guard e.size == len else {
                throw SettError.corruption("value-log entry is \(e.size) bytes, pointer says \(len)",
                                           file: path, offset: Int64(at))
            }
            if e.valueOffset > 0 && e.valueCount > 0 {
                raw.baseAddress!.copyMemory(from: raw.baseAddress! + e.valueOffset, byteCount: e.valueCount)
            }
            count = e.valueCount
        }
    }

    /// Decodes the entry at the start of `raw`, which sits at file offset `at`; errors name the file.
    @inline(__always)
    func decode(_ raw: UnsafeRawBufferPointer, at: Int, verifyChecksum: Bool) throws -> ValueLogFormat.DecodedEntry {
        do {
            return try ValueLogFormat.decodeEntry(raw, verifyChecksum: verifyChecksum)
        } catch var e as SettError {
            e.file = path
            e.offset = Int64(at) + (e.offset ?? 0)
            throw e
        }
    }

    /// Calls `body` for each entry from the header on that starts below `limit` (default:
    /// `size`), until it returns false. Throws `.corruption` (file and offset) at the first
    /// undecodable entry.
    func scan(limit: Int? = nil, verifyChecksum: Bool,
              _ body: (ValueLogEntryView) throws -> Bool) throws {
        let valid = size
        let end = min(limit ?? valid, valid)
        guard end > ValueLogFormat.headerSize else { return }
        let region = try file.map(length: valid)
        try withExtendedLifetime(region) {
            let all = region.bytes
            var at = ValueLogFormat.headerSize
            while at < end {
                let raw = UnsafeRawBufferPointer(rebasing: all[at ..< valid])
                let e = try decode(raw, at: at, verifyChecksum: verifyChecksum)
                let view = ValueLogEntryView(
                    key: UnsafeRawBufferPointer(rebasing: raw[e.keyOffset ..< e.keyOffset + e.keyCount]),
                    version: e.version, meta: e.meta, userMeta: e.userMeta, expiresAt: e.expiresAt,
                    value: UnsafeRawBufferPointer(rebasing: raw[e.valueOffset ..< e.size]),
                    pointer: ValuePointer(fid: fid, len: UInt32(e.size), offset: UInt32(at)))
                if try !body(view) { return }
                at += e.size
            }
        }
    }

    /// Walks the whole file with checksums and returns the end of the last valid entry,
    /// the number of valid entries, and the error that stopped the walk early (if any).
    func scanValidEnd() throws -> (end: Int, entries: Int, stop: SettError?) {
        let len = Int(try file.size())
        guard len > ValueLogFormat.headerSize else { return (min(len, ValueLogFormat.headerSize), 0, nil) }
        let region = try file.map(length: len)
        return withExtendedLifetime(region) {
            let all = region.bytes
            var at = ValueLogFormat.headerSize
            var entries = 0
            var stop: SettError?
            while at < len {
                do {
                    let e = try decode(UnsafeRawBufferPointer(rebasing: all[at ..< len]), at: at, verifyChecksum: true)
                    at += e.size
                    entries += 1
                } catch let e as SettError {
                    stop = e
                    break
                } catch {
                    stop = SettError(.corruption, "\(error)", file: path, offset: Int64(at))
                    break
                }
            }
            return (at, entries, stop)
        }
    }
}
