import Atomics
import Logging

/// A memtable: a skiplist of recent writes plus the WAL that makes them durable.
///
/// Thread safety: one writer thread calls `insert`, uses `wal` and calls `deleteWAL`;
/// any number of threads call `get`, `maxVersion`, `isEmpty` and iterate `skiplist`
/// at the same time. The WAL is written by the lead's commit writer (encoded records
/// via `wal.append`) before `insert` applies the same batch to the skiplist.
///
/// Invariant: every batch inserted was checked with `canFit` or `hasRoom` first (and
/// reserved its room if inserted later), so an insert never runs out of arena halfway
/// through a batch.
final class Memtable: @unchecked Sendable {
    let fileId: UInt64
    let skiplist: Skiplist
    /// Path of the WAL, nil for in-memory memtables.
    let walPath: String?
    private let fs: (any FileSystem)?
    /// The open WAL writer; nil when in memory, read-only, or after `deleteWAL`.
    private(set) var wal: WALWriter?
    private let maxVersionAtomic = ManagedAtomic<UInt64>(0)
    /// What `replay` found in the WAL (records, torn tail, ...); nil for created memtables.
    private(set) var replayResult: WALReplayResult?

    private init(fileId: UInt64, skiplist: Skiplist, fs: (any FileSystem)?, walPath: String?, wal: WALWriter?) {
        self.fileId = fileId
        self.skiplist = skiplist
        self.fs = fs
        self.walPath = walPath
        self.wal = wal
    }

    /// "000007.wal": the id in decimal, zero-padded to at least 6 digits.
    static func walFileName(_ fileId: UInt64) -> String {
        let digits = String(fileId)
        return String(repeating: "0", count: max(0, 6 - digits.count)) + digits + ".wal"
    }

    /// Creates an empty memtable with a new WAL at dir/<walFileName>; with `fs == nil`
    /// the memtable lives in memory only and has no WAL.
    static func create(fs: (any FileSystem)?, dir: String, fileId: UInt64, arenaSize: Int) throws -> Memtable {
        let list = Skiplist(arenaSize: arenaSize)
        guard let fs else { return Memtable(fileId: fileId, skiplist: list, fs: nil, walPath: nil, wal: nil) }
        let path = joinPath(dir, walFileName(fileId))
        let wal = try WALWriter.create(fs: fs, path: path, fileId: fileId)
        return Memtable(fileId: fileId, skiplist: list, fs: fs, walPath: path, wal: wal)
    }

    /// Rebuilds a memtable from its WAL (a torn tail is truncated and logged, see
    /// `replayWAL`). Unless `readOnly`, the returned memtable's `wal` continues the file.
    /// The arena is `arenaSize`, or larger if the WAL holds more than that fits (when the
    /// memtable size option shrank between runs).
    static func replay(fs: any FileSystem, dir: String, fileId: UInt64, arenaSize: Int, readOnly: Bool,
                       logger: Logger) throws -> Memtable {
        let path = joinPath(dir, walFileName(fileId))
        let (file, scan) = try WALScan.open(fs: fs, path: path, expectedFileId: fileId, readOnly: readOnly,
                                            logger: logger)
        do {
            // Size the arena so that every record certainly fits.
            var needed = Arena.firstOffset + Skiplist.nodeHeaderSize + 4 * Skiplist.maxHeight + 64
            _ = try scan.replay { batch in
                batch.forEach { key, _, value in
                    needed += Skiplist.nodeSizeEstimate(keyCount: key.count + InternalKey.suffixSize,
                                                        valueEncodedSize: value.encodedSize)
                }
            }
            guard needed <= Int(UInt32.max) else {
                throw SettError(.unsupported, "WAL holds more than one memtable can address (\(needed) bytes)",
                                file: path)
            }
            let list = Skiplist(arenaSize: max(arenaSize, needed))
            let result = try scan.replay { batch in
                batch.forEach { key, version, value in
                    let ok = list.put(userKey: key, version: version, value: value)
                    precondition(ok, "replay arena sized too small")
                }
            }
            let wal: WALWriter?
            if readOnly {
                file.close()
                wal = nil
            } else {
                wal = WALWriter.resume(file: file, fileId: fileId, size: Int64(scan.validEnd))
            }
            let m = Memtable(fileId: fileId, skiplist: list, fs: fs, walPath: path, wal: wal)
            m.maxVersionAtomic.store(result.maxVersion, ordering: .relaxed)
            m.replayResult = result
            return m
        } catch {
            file.close()
            throw error
        }
    }

    /// Highest version inserted (including by replay); 0 when empty.
    var maxVersion: UInt64 { maxVersionAtomic.load(ordering: .relaxed) }
    var isEmpty: Bool { skiplist.count == 0 }

    /// Arena bytes promised to batches already written to the WAL but not inserted yet
    /// (the commit pipeline inserts after the fsync); `hasRoom` and `canFit` count them.
    private let reservedBytes = ManagedAtomic<Int>(0)

    /// Whether `bytes` more (an arena estimate) fit beside what is inserted and reserved.
    func hasRoom(for bytes: Int) -> Bool {
        skiplist.memoryUsed + reservedBytes.load(ordering: .relaxed) + bytes <= skiplist.capacity
    }

    /// Promises `bytes` of arena to a batch that will be inserted later.
    func reserve(_ bytes: Int) { reservedBytes.wrappingIncrement(by: bytes, ordering: .relaxed) }

    /// Returns a reservation, after its batch was inserted (or abandoned).
    func release(_ bytes: Int) { reservedBytes.wrappingDecrement(by: bytes, ordering: .relaxed) }

    /// Whether `batch` (with those value pointers) certainly fits in the remaining arena.
    func canFit(_ batch: EntryBatch, pointers: [ValuePointer?]) -> Bool {
        var need = 0
        var i = 0
        batch.forEach { slot, key, value in
            let isPointer = !pointers.isEmpty && pointers[i] != nil
            i += 1
            let valueSize = 2 + ByteWriter.uvarintSize(slot.expiresAt) + (isPointer ? ValuePointer.encodedSize : value.count)
            need += Skiplist.nodeSizeEstimate(keyCount: key.count + InternalKey.suffixSize, valueEncodedSize: valueSize)
        }
        return need <= skiplist.capacity - skiplist.memoryUsed - reservedBytes.load(ordering: .relaxed)
    }

    /// Inserts every entry of `batch` into the skiplist (the WAL is not touched). Writer
    /// thread only; the batch must have passed `canFit` (running out of arena halfway
    /// is a programming error and traps).
    func insert(_ batch: EntryBatch, pointers: [ValuePointer?]) {
        precondition(pointers.isEmpty || pointers.count == batch.count, "one pointer slot per entry")
        var maxV = maxVersionAtomic.load(ordering: .relaxed)
        var i = 0
        let list = skiplist
        batch.forEach { slot, key, value in
            let ok: Bool
            if !pointers.isEmpty, let p = pointers[i] {
                let raw = (p.fid.littleEndian, p.len.littleEndian, p.offset.littleEndian)
                ok = withUnsafeBytes(of: raw) { bytes in
                    list.put(userKey: key, version: slot.version,
                             value: ValueView(meta: slot.meta | EntryMeta.valuePointer, userMeta: slot.userMeta,
                                              expiresAt: slot.expiresAt, bytes: bytes))
                }
            } else {
                ok = list.put(userKey: key, version: slot.version,
                              value: ValueView(meta: slot.meta, userMeta: slot.userMeta, expiresAt: slot.expiresAt,
                                               bytes: value))
            }
            precondition(ok, "memtable \(fileId) arena full: check canFit before insert")
            i += 1
            if slot.version > maxV { maxV = slot.version }
        }
        maxVersionAtomic.store(maxV, ordering: .relaxed)
    }

    /// The newest version <= `atVersion` of `userKey` (possibly a tombstone or a value
    /// pointer), or nil when the memtable has none.
    func get(userKey: UnsafeRawBufferPointer, atVersion: UInt64) -> LookupResult? {
        let n = skiplist.findFirst(atLeast: Probe(userKey: userKey, version: atVersion))
        if n == 0 { return nil }
        let k = skiplist.key(n)
        guard compareBytes(InternalKey.userKey(k), userKey) == 0 else { return nil }
        return LookupResult(key: k, value: skiplist.value(n))
    }

    /// Closes the WAL once the memtable is safely flushed to a table and renames it
    /// `NNNNNN.wal` -> `NNNNNN.log`: a retained commit-feed segment, never replayed.
    /// Syncs the file first (without `syncWrites` its records may never have been synced,
    /// and as feed history they must survive a crash like the table made from them), and
    /// the directory after, so a reopen does not replay it again.
    func retireWAL() throws {
        try wal?.sync()
        wal?.close()
        wal = nil
        guard let fs, let walPath, fs.exists(walPath) else { return }
        let logPath = joinPath(parentDirectory(walPath), FeedLog.logFileName(fileId))
        try fs.rename(walPath, logPath)
        try fs.syncDirectory(parentDirectory(walPath))
    }

    /// Closes and removes the WAL once the memtable is safely flushed to a table.
    /// The caller syncs the directory if it needs the removal durable.
    func deleteWAL() throws {
        wal?.close()
        wal = nil
        if let fs, let walPath, fs.exists(walPath) { try fs.remove(walPath) }
    }
}
