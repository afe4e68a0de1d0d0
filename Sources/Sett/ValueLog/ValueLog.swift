import Logging
import Synchronization

/// The value log (WiscKey): large values live in append-only "<fid>.vlog" files and the
/// tree keeps a `ValuePointer` to them. Format in `Format/ValueLogFormat.swift`.
///
/// Thread safety: `append`, `sync`, `persistDiscardStats`, `removeFile` and `close` are
/// meant for the writer thread; they are serialised by an internal lock anyway, and
/// `sync` does its fdatasync outside that lock. `read`, `iterate`, `fileIds`,
/// `totalBytes` and the discard methods may be called from any thread concurrently.
///
/// Invariants: the active file is the one with the highest fid; every pointer handed out
/// lies below its file's published `size`; rotated files stay in `unsynced` until a
/// `sync` has made them durable.
final class ValueLog: @unchecked Sendable {
    struct WriterState {
        var active: ValueLogFile?
        var activeEntries = 0
        /// The active file has bytes not yet synced.
        var activeDirty = false
        /// Rotated files with bytes not yet synced.
        var unsynced: [ValueLogFile] = []
        var buffer = ByteWriter(capacity: 1 << 16)
        var closed = false
    }

    let fs: any FileSystem
    let dir: String
    let readOnly: Bool
    let verifyChecksum: Bool
    let maxFileSize: Int
    let maxEntries: Int
    let logger: Logger
    let discard: DiscardStats

    private let files: Mutex<[UInt32: ValueLogFile]>
    private let writer: Mutex<WriterState>

    private init(fs: any FileSystem, dir: String, options: Options, files: [UInt32: ValueLogFile],
                 writer: WriterState, discard: DiscardStats) {
        self.fs = fs
        self.dir = dir
        self.readOnly = options.readOnly
        self.verifyChecksum = options.verifyValueChecksum
        self.maxFileSize = options.valueLogFileSize
        self.maxEntries = options.valueLogMaxEntries
        self.logger = options.logger
        self.discard = discard
        self.files = Mutex(files)
        self.writer = Mutex(writer)
    }

    // MARK: Open

    /// Opens `dir`: validates the headers of existing *.vlog files; scans the newest file's
    /// entries and truncates a torn or corrupt tail (logged with file and offset); then
    /// appends to it, or starts file 1 in an empty directory. `readOnly` writes nothing
    /// (a bad tail is then only excluded from reads).
    static func open(fs: any FileSystem, dir: String, options: Options) throws -> ValueLog {
        let readOnly = options.readOnly
        let logger = options.logger
        if !readOnly { try fs.createDirectory(dir) }
        let names = fs.exists(dir) ? try fs.list(dir) : []
        let fids = names.compactMap(ValueLogFormat.parseFileName).sorted()
        var files: [UInt32: ValueLogFile] = [:]
        var state = WriterState()
        do {
            for fid in fids.dropLast() {
                let path = joinPath(dir, ValueLogFormat.fileName(fid))
                files[fid] = try ValueLogFile.open(fs: fs, path: path, fid: fid, writable: false)
            }
            if let last = fids.last {
                let f = try openNewest(fs: fs, dir: dir, fid: last, readOnly: readOnly, logger: logger)
                files[last] = f.file
                state.active = f.file
                state.activeEntries = f.entries
            } else if !readOnly {
                let f = try ValueLogFile.create(fs: fs, dir: dir, fid: 1)
                files[1] = f
                state.active = f
            }
        } catch {
            for f in files.values { f.file.close() }
            throw error
        }
        let discard = DiscardStats.load(fs: fs, dir: dir, logger: logger)
        return ValueLog(fs: fs, dir: dir, options: options, files: files, writer: state, discard: discard)
    }

    /// Opens the newest file, finds the end of its valid entries and cuts anything after it.
    private static func openNewest(fs: any FileSystem, dir: String, fid: UInt32, readOnly: Bool,
                                   logger: Logger) throws -> (file: ValueLogFile, entries: Int) {
        let path = joinPath(dir, ValueLogFormat.fileName(fid))
        let raw = try fs.open(path, readOnly ? .readOnly : .readWrite)
        let len = try raw.size()
        if len < Int64(ValueLogFormat.headerSize) {
            // Created but the header never reached the disk: the file holds no entries.
            if readOnly {
                return (ValueLogFile(fid: fid, path: path, file: raw, size: Int(len)), 0)
            }
            logger.warning("value log: rewriting torn header of \(path) (\(len) bytes)")
            try raw.truncate(to: 0)
            try raw.write(ValueLogFormat.encodeHeader(fid: fid), at: 0)
            try raw.sync()
            return (ValueLogFile(fid: fid, path: path, file: raw, size: ValueLogFormat.headerSize), 0)
        }
        raw.close()
        let f = try ValueLogFile.open(fs: fs, path: path, fid: fid, writable: !readOnly)
        let (end, entries, stop) = try f.scanValidEnd()
        if Int64(end) < len {
            let reason = stop.map { "\($0)" } ?? "incomplete entry"
            if readOnly {
                logger.warning("""
                    value log: ignoring torn or corrupt tail of \(path) from offset \(end) \
                    (\(len - Int64(end)) bytes; read-only): \(reason)
                    """)
            } else {
                logger.warning("""
                    value log: truncating torn or corrupt tail of \(path) at offset \(end) \
                    (\(len - Int64(end)) bytes dropped): \(reason)
                    """)
                try f.file.truncate(to: Int64(end))
                try f.file.sync()
            }
        }
        f.publishSize(end)
        return (f, entries)
    }

    // MARK: Writing

    /// Writes every put of `batch` whose value has at least `threshold` bytes, all with one
    /// write; returns one element per batch entry (the pointer, or nil for inline values,
    /// deletes and entries that already hold a pointer), or [] without writing when nothing
    /// qualifies. Rotates to a new file first
    /// when the active file would pass `valueLogFileSize` or `valueLogMaxEntries`.
    func append(_ batch: EntryBatch, threshold: Int) throws -> [ValuePointer?] {
        var count = 0
        var bytes = 0
        batch.forEach { s, key, value in
            if Self.qualifies(s, threshold) {
                count += 1
                bytes += ValueLogFormat.entrySize(keyCount: key.count, valueCount: value.count, expiresAt: s.expiresAt)
            }
        }
        if count == 0 { return [] }
        if readOnly { throw SettError(.readOnly, "value log opened read-only") }
        return try writer.withLock { st throws -> [ValuePointer?] in
            guard !st.closed, var active = st.active else { throw SettError(.closed, "value log is closed") }
            if st.activeEntries > 0
                && (active.size + bytes > maxFileSize || st.activeEntries + count > maxEntries) {
                active = try rotate(&st)
            }
            let base = active.size
            guard base + bytes <= Int(UInt32.max) else {
                throw SettError.invalid("batch of \(bytes) value-log bytes does not fit in one value-log file")
            }
            var w = st.buffer
            st.buffer = ByteWriter()
            w.bytes.removeAll(keepingCapacity: true)
            var out = [ValuePointer?]()
            out.reserveCapacity(batch.count)
            batch.forEach { s, key, value in
                guard Self.qualifies(s, threshold) else {
                    out.append(nil)
                    return
                }
                let at = w.count
                ValueLogFormat.encodeEntry(into: &w, key: key, value: value, version: s.version, meta: s.meta,
                                           userMeta: s.userMeta, expiresAt: s.expiresAt)
                out.append(ValuePointer(fid: active.fid, len: UInt32(w.count - at), offset: UInt32(base + at)))
            }
            defer { st.buffer = w }
            do {
                try w.bytes.withUnsafeBytes { try active.file.write($0, at: Int64(base)) }
            } catch {
                // Leave no partial entries behind for the next append to build on.
                try? active.file.truncate(to: Int64(base))
                throw error
            }
            active.publishSize(base + w.count)
            st.activeEntries += count
            st.activeDirty = true
            return out
        }
    }

    /// A put (not a delete, not already a pointer) with a value of at least `threshold` bytes.
    @inline(__always)
    private static func qualifies(_ s: EntryBatch.Slot, _ threshold: Int) -> Bool {
        s.meta & (EntryMeta.delete | EntryMeta.valuePointer) == 0 && s.valueCount >= threshold
    }

    /// Starts the next file; the old one waits in `unsynced` for the next `sync`.
    private func rotate(_ st: inout WriterState) throws -> ValueLogFile {
        let old = st.active!
        let next = try ValueLogFile.create(fs: fs, dir: dir, fid: old.fid + 1)
        if st.activeDirty { st.unsynced.append(old) }
        st.active = next
        st.activeEntries = 0
        st.activeDirty = false
        files.withLock { $0[next.fid] = next }
        return next
    }

    /// fdatasyncs the active file and every rotated file not yet synced.
    func sync() throws {
        let pending: [ValueLogFile] = writer.withLock { st in
            var list = st.unsynced
            st.unsynced.removeAll()
            if st.activeDirty, let a = st.active {
                list.append(a)
                st.activeDirty = false
            }
            return list
        }
        var failed: [ValueLogFile] = []
        var firstError: (any Error)?
        for f in pending {
            do { try f.file.sync() } catch {
                failed.append(f)
                if firstError == nil { firstError = error }
            }
        }
        if let firstError {
            // Keep them pending, so a later sync retries.
            writer.withLock { st in
                for f in failed {
                    if f === st.active { st.activeDirty = true } else { st.unsynced.append(f) }
                }
            }
            throw firstError
        }
    }

    // MARK: Reading

    /// The value bytes `ptr` refers to (a copy). Bounds and the entry's lengths are always
    /// checked against `ptr.len`; the CRC too when `verifyValueChecksum`. A bad pointer or
    /// entry gives `.corruption` naming the file and offset.
    func read(_ ptr: ValuePointer) throws -> [UInt8] {
        guard let f = file(ptr.fid) else {
            throw SettError.corruption("value pointer names value-log file \(ptr.fid), which does not exist",
                                       file: joinPath(dir, ValueLogFormat.fileName(ptr.fid)),
                                       offset: Int64(ptr.offset))
        }
        return try f.readValue(ptr, verifyChecksum: verifyChecksum)
    }

    /// Calls `body` with each entry of file `fid` in order (those starting below byte
    /// `limit`, when given), until it returns false. Checksums are verified; a bad entry
    /// throws `.corruption` with file and offset.
    func iterate(fid: UInt32, limit: Int? = nil, _ body: (ValueLogEntryView) throws -> Bool) throws {
        guard let f = file(fid) else {
            throw SettError(.notFound, "no value-log file \(fid)", file: joinPath(dir, ValueLogFormat.fileName(fid)))
        }
        try f.scan(limit: limit.map { min($0, f.size) }, verifyChecksum: true, body)
    }

    /// Whether file `fid` is part of the log.
    func holds(_ fid: UInt32) -> Bool { file(fid) != nil }

    /// Valid bytes of file `fid` (0 if it is not part of the log).
    func size(of fid: UInt32) -> Int { file(fid)?.size ?? 0 }

    @inline(__always)
    private func file(_ fid: UInt32) -> ValueLogFile? { files.withLock { $0[fid] } }

    /// Ids of all files, ascending.
    var fileIds: [UInt32] { files.withLock { Array($0.keys) }.sorted() }

    /// The id of the file appends go to (nil when read-only with no files).
    var activeFid: UInt32? { writer.withLock { $0.active?.fid } }

    /// Valid bytes of all files, headers included.
    var totalBytes: Int { files.withLock { $0.values.reduce(0) { $0 + $1.size } } }

    /// Drops file `fid` (for GC, once nothing points into it): removes it from the log and
    /// the directory and forgets its discard statistics. Readers already holding it finish
    /// their reads. The active file cannot be removed.
    func removeFile(fid: UInt32) throws {
        if readOnly { throw SettError(.readOnly, "value log opened read-only") }
        let f: ValueLogFile? = try writer.withLock { st in
            if st.active?.fid == fid { throw SettError.invalid("cannot remove the active value-log file \(fid)") }
            st.unsynced.removeAll { $0.fid == fid }
            return files.withLock { $0.removeValue(forKey: fid) }
        }
        guard let f else { throw SettError(.notFound, "no value-log file \(fid)") }
        try fs.remove(f.path)
        try fs.syncDirectory(dir)
        discard.remove(fid: fid)
    }

    // MARK: Discard statistics

    func addDiscard(fid: UInt32, bytes: Int) { discard.add(fid: fid, bytes: bytes) }

    func discardBytes(fid: UInt32) -> Int { discard.bytes(fid: fid) }

    /// Writes the discard statistics of existing files to "DISCARD" atomically.
    func persistDiscardStats() throws {
        if readOnly { throw SettError(.readOnly, "value log opened read-only") }
        try writer.withLock { st in
            if st.closed { throw SettError(.closed, "value log is closed") }
            try discard.persist(fs: fs, dir: dir, liveFids: Set(files.withLock { $0.keys }))
        }
    }

    // MARK: Close

    /// Syncs pending data (unless read-only) and closes every file. Later calls fail with `.closed`.
    func close() throws {
        let wasClosed = writer.withLock { st in
            defer { st.closed = true }
            return st.closed
        }
        if wasClosed { return }
        var firstError: (any Error)?
        if !readOnly {
            do { try sync() } catch { firstError = error }
        }
        let all = files.withLock { f in
            defer { f.removeAll() }
            return Array(f.values)
        }
        for f in all { f.file.close() }
        writer.withLock { $0.active = nil }
        if let firstError { throw firstError }
    }
}
