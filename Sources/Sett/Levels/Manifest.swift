import Logging
import Synchronization

/// The set of live tables the manifest describes, with counts since the last rewrite.
struct ManifestState: Sendable {
    var tables: [UInt64: (level: Int, compression: Compression)] = [:]
    /// Create changes in the current MANIFEST file (after a rewrite: the live tables).
    var creations = 0
    /// Delete changes in the current MANIFEST file (0 after a rewrite).
    var deletions = 0
    /// Highest table id created in the current MANIFEST file. A rewrite keeps only live
    /// tables, so after a reopen this can be lower than an id used before: take new ids
    /// above both this and the table files present in the directory.
    var maxTableId: UInt64 = 0

    /// Applies `changes` in order, or returns why one makes no sense (leaving self unchanged
    /// only if the caller applies to a copy).
    mutating func apply(_ changes: [ManifestChange]) -> (index: Int, reason: String)? {
        for (i, c) in changes.enumerated() {
            switch c.op {
            case .create:
                guard c.level >= 0 && c.level <= ManifestFormat.maxLevel else {
                    return (i, "create of table \(c.tableId) at invalid level \(c.level)")
                }
                if let t = tables[c.tableId] {
                    return (i, "create of table \(c.tableId), which already exists at level \(t.level)")
                }
                tables[c.tableId] = (c.level, c.compression)
                creations += 1
                maxTableId = max(maxTableId, c.tableId)
            case .delete:
                guard let t = tables[c.tableId] else {
                    return (i, "delete of table \(c.tableId), which does not exist")
                }
                guard t.level == c.level else {
                    return (i, "delete of table \(c.tableId) at level \(c.level), but it is at level \(t.level)")
                }
                tables[c.tableId] = nil
                deletions += 1
            }
        }
        return nil
    }
}

/// The MANIFEST file: an append-only log of table creations and deletions, replayed on
/// open and rewritten (to just the live tables) when deletions pile up. Format in
/// `Format/ManifestFormat.swift`.
///
/// Thread safety: all methods may be called from any thread; `apply` calls are serialised
/// by an internal mutex held across the write and fsync.
/// Invariants: `state` always equals the replay of the durable file; a change set that
/// makes no sense is refused before anything is written.
final class Manifest: @unchecked Sendable {
    private struct Inner {
        var file: (any StorageFile)?
        var size: Int64
        var state: ManifestState
        var closed = false
        /// A rename into place whose directory fsync failed; retried before the next append.
        var needsDirSync = false
        var buffer = ByteWriter(capacity: 256)
    }

    let fs: any FileSystem
    let dir: String
    let path: String
    let readOnly: Bool
    let logger: Logger
    /// A rewrite happens when deletions exceed both this and `rewriteRatio` x live tables.
    let rewriteMinDeletions: Int
    let rewriteRatio: Int
    private let inner: Mutex<Inner>

    private init(fs: any FileSystem, dir: String, readOnly: Bool, logger: Logger, rewriteMinDeletions: Int,
                 rewriteRatio: Int, inner: Inner) {
        self.fs = fs
        self.dir = dir
        self.path = joinPath(dir, ManifestFormat.fileName)
        self.readOnly = readOnly
        self.logger = logger
        self.rewriteMinDeletions = rewriteMinDeletions
        self.rewriteRatio = rewriteRatio
        self.inner = Mutex(inner)
    }

    var state: ManifestState { inner.withLock { $0.state } }

    // MARK: Open and replay

    /// Opens or creates dir/MANIFEST and replays it. A torn final record (crash mid-append,
    /// or a zero-filled tail) is truncated with a log line (only skipped when `readOnly`); a checksum failure before
    /// the last record, an undecodable record or a change that makes no sense throws
    /// `.corruption` naming the file and offset. `readOnly` never writes; with no MANIFEST
    /// it gives an empty state and a manifest that refuses `apply`.
    static func open(fs: any FileSystem, dir: String, readOnly: Bool, logger: Logger,
                     rewriteMinDeletions: Int = 10_000, rewriteRatio: Int = 10) throws -> (Manifest, ManifestState) {
        let path = joinPath(dir, ManifestFormat.fileName)
        let rewritePath = joinPath(dir, ManifestFormat.rewriteFileName)
        var inner = Inner(file: nil, size: 0, state: ManifestState())
        if !readOnly {
            try fs.createDirectory(dir)
            if fs.exists(rewritePath) {
                logger.warning("manifest: removing \(rewritePath) left by an interrupted rewrite")
                try fs.remove(rewritePath)
            }
        }
        if !fs.exists(path) {
            if !readOnly {
                let f = try writeReplacement(fs: fs, dir: dir, state: inner.state, logger: logger)
                inner.file = f.file
                inner.size = f.size
                inner.needsDirSync = !f.dirSynced
            }
        } else {
            let f = try fs.open(path, readOnly ? .readOnly : .readWrite)
            do {
                let (state, end) = try replay(f, readOnly: readOnly, logger: logger)
                inner.state = state
                inner.size = end
                if readOnly { f.close() } else { inner.file = f }
            } catch {
                f.close()
                throw error
            }
        }
        let m = Manifest(fs: fs, dir: dir, readOnly: readOnly, logger: logger,
                         rewriteMinDeletions: rewriteMinDeletions, rewriteRatio: rewriteRatio, inner: inner)
        return (m, inner.state)
    }

    /// Replays every record; returns the state and the end of the last good record.
    private static func replay(_ f: any StorageFile, readOnly: Bool,
                               logger: Logger) throws -> (ManifestState, Int64) {
        let path = f.path
        let bytes = try f.readExactly(Int(try f.size()), at: 0)
        return try bytes.withUnsafeBytes { raw -> (ManifestState, Int64) in
            try ManifestFormat.checkHeader(raw, path: path)
            var state = ManifestState()
            var at = ManifestFormat.headerSize
            let len = raw.count
            func torn(_ why: String) throws -> (ManifestState, Int64) {
                if readOnly {
                    logger.warning("manifest: ignoring torn final record of \(path) at offset \(at) (read-only): \(why)")
                } else {
                    logger.warning("""
                        manifest: truncating torn final record of \(path) at offset \(at) \
                        (\(len - at) bytes dropped): \(why)
                        """)
                    try f.truncate(to: Int64(at))
                    try f.sync()
                }
                return (state, Int64(at))
            }
            while at < len {
                guard len - at >= ManifestFormat.recordHeaderSize else {
                    return try torn("record header truncated")
                }
                var r = ByteReader(raw, offset: at)
                let crc = try r.u32()
                let length = Int(try r.u32())
                let end = at + ManifestFormat.recordHeaderSize + length
                guard end <= len else {
                    return try torn("record of \(length) bytes extends past the end of the file")
                }
                let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(at + 4) ..< end]))
                guard actual == crc else {
                    if end == len { return try torn("checksum mismatch in the last record") }
                    if !raw[at...].contains(where: { $0 != 0 }) {
                        // The file system extended the file but the data never landed.
                        return try torn("zero-filled tail")
                    }
                    throw SettError.corruption("manifest record checksum mismatch (stored \(crc), computed \(actual))",
                                               file: path, offset: Int64(at))
                }
                let payloadAt = at + ManifestFormat.recordHeaderSize
                let changes: [ManifestChange]
                do {
                    changes = try ManifestFormat.decodePayload(UnsafeRawBufferPointer(rebasing: raw[payloadAt ..< end]))
                } catch var e as SettError {
                    e.file = path
                    e.offset = Int64(payloadAt) + (e.offset ?? 0)
                    throw e
                }
                if let bad = state.apply(changes) {
                    throw SettError.corruption("manifest change \(bad.index) of the record: \(bad.reason)",
                                               file: path, offset: Int64(at))
                }
                at = end
            }
            return (state, Int64(at))
        }
    }

    // MARK: Changes

    /// Appends one record holding all `changes` (atomic as a group) and fsyncs it. Changes
    /// that make no sense against the current state are refused with `.invalidArgument`
    /// and nothing is written. May then rewrite the manifest (see `rewriteMinDeletions`).
    func apply(_ changes: [ManifestChange]) throws {
        if readOnly { throw SettError(.readOnly, "manifest opened read-only") }
        if changes.isEmpty { return }
        try inner.withLock { st in
            guard !st.closed, let file = st.file else { throw SettError(.closed, "manifest is closed") }
            if st.needsDirSync {
                try fs.syncDirectory(dir)
                st.needsDirSync = false
            }
            var next = st.state
            if let bad = next.apply(changes) {
                throw SettError.invalid("manifest change \(bad.index): \(bad.reason)")
            }
            st.buffer.bytes.removeAll(keepingCapacity: true)
            ManifestFormat.encodeRecord(changes, into: &st.buffer)
            do {
                try st.buffer.bytes.withUnsafeBytes { try file.write($0, at: st.size) }
                try file.sync()
            } catch {
                // Leave the file as it was so the next append starts from a clean end.
                try? file.truncate(to: st.size)
                throw error
            }
            st.size += Int64(st.buffer.count)
            st.state = next
            if next.deletions > rewriteMinDeletions && next.deletions > rewriteRatio * next.tables.count {
                do {
                    try rewrite(&st)
                } catch {
                    // The changes are durable in the old file; the next apply tries again.
                    logger.error("manifest: rewrite failed, continuing with the current file: \(error)")
                }
            }
        }
    }

    /// Replaces MANIFEST with one holding a create for each live table.
    private func rewrite(_ st: inout Inner) throws {
        let live = st.state.tables.count
        let f = try Manifest.writeReplacement(fs: fs, dir: dir, state: st.state, logger: logger)
        st.file?.close()
        st.file = f.file
        st.size = f.size
        st.needsDirSync = !f.dirSynced
        st.state.creations = live
        st.state.deletions = 0
        logger.info("manifest: rewrote \(path) with \(live) live tables")
    }

    /// Writes MANIFEST-REWRITE (header, and one record of creates if there are tables),
    /// fsyncs it, renames it over MANIFEST and fsyncs the directory. Returns the open file.
    private static func writeReplacement(fs: any FileSystem, dir: String, state: ManifestState,
                                         logger: Logger) throws -> (file: any StorageFile, size: Int64, dirSynced: Bool) {
        let path = joinPath(dir, ManifestFormat.fileName)
        let tmp = joinPath(dir, ManifestFormat.rewriteFileName)
        if fs.exists(tmp) { try fs.remove(tmp) }
        var w = ByteWriter(capacity: 64 + state.tables.count * 8)
        w.append(ManifestFormat.encodeHeader())
        if !state.tables.isEmpty {
            let creates = state.tables.sorted { $0.key < $1.key }.map {
                ManifestChange.create($0.key, level: $0.value.level, compression: $0.value.compression)
            }
            ManifestFormat.encodeRecord(creates, into: &w)
        }
        let f = try fs.open(tmp, .createNew)
        do {
            try f.write(w.bytes, at: 0)
            try f.sync()
            try fs.rename(tmp, path)
        } catch {
            f.close()
            try? fs.remove(tmp)
            throw error
        }
        do {
            try fs.syncDirectory(dir)
        } catch {
            // The rename happened; only its durability is in doubt. Keep the new file, and
            // make the next append sync the directory first.
            logger.error("manifest: fsync of \(dir) after replacing \(path) failed: \(error)")
            return (f, Int64(w.count), false)
        }
        return (f, Int64(w.count), true)
    }

    /// Closes the file; later `apply` calls fail with `.closed`.
    func close() {
        inner.withLock { st in
            st.file?.close()
            st.file = nil
            st.closed = true
        }
    }
}
