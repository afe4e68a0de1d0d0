import Logging
import Synchronization

/// Bytes known to be stale per value-log file (compaction reports entries it drops);
/// value-log GC picks the files with most. Persisted in "DISCARD" in the value directory
/// (grammar in `Format/ValueLogFormat.swift`), replaced atomically: write DISCARD.tmp,
/// fsync, rename, fsync the directory.
///
/// Thread safety: all methods may be called from any thread; `persist` calls are
/// serialised by the caller (the value log calls it from one place).
///
/// The statistics are hints: a missing or unreadable DISCARD file is logged and the
/// statistics start empty rather than failing the open, since losing them only makes
/// GC choose less well until compaction reports again.
final class DiscardStats: Sendable {
    static let fileName = "DISCARD"
    static let magic: [UInt8] = Array("SETTDSC".utf8) + [0x01]

    private let stats: Mutex<[UInt32: Int]>

    init(_ initial: [UInt32: Int] = [:]) {
        stats = Mutex(initial)
    }

    func add(fid: UInt32, bytes: Int) {
        guard bytes > 0 else { return }
        stats.withLock { $0[fid, default: 0] += bytes }
    }

    func bytes(fid: UInt32) -> Int { stats.withLock { $0[fid] ?? 0 } }

    func remove(fid: UInt32) { _ = stats.withLock { $0.removeValue(forKey: fid) } }

    var snapshot: [UInt32: Int] { stats.withLock { $0 } }

    // MARK: Encoding

    static func encode(_ stats: [UInt32: Int]) -> [UInt8] {
        var w = ByteWriter(capacity: 16 + stats.count * 8)
        w.append(magic)
        w.uvarint(UInt64(stats.count))
        for (fid, bytes) in stats.sorted(by: { $0.key < $1.key }) {
            w.u32(fid)
            w.uvarint(UInt64(bytes))
        }
        let crc = CRC32C.checksum(w.bytes)
        w.u32(crc)
        return w.bytes
    }

    static func decode(_ raw: UnsafeRawBufferPointer, path: String) throws -> [UInt32: Int] {
        do {
            guard raw.count >= magic.count + 1 + 4 else {
                throw SettError.corruption("discard file truncated (\(raw.count) bytes)", file: nil, offset: 0)
            }
            let body = UnsafeRawBufferPointer(rebasing: raw[0 ..< raw.count - 4])
            var tail = ByteReader(raw, offset: raw.count - 4)
            let stored = try tail.u32()
            let actual = CRC32C.checksum(body)
            guard stored == actual else {
                throw SettError.corruption("discard file checksum mismatch", file: nil, offset: Int64(raw.count - 4))
            }
            var r = ByteReader(body)
            guard try r.bytes(magic.count).elementsEqual(magic) else {
                throw SettError.corruption("not a discard file (bad magic)", file: nil, offset: 0)
            }
            let count = try r.length(max: body.count / 5)
            var out: [UInt32: Int] = [:]
            out.reserveCapacity(count)
            for _ in 0 ..< count {
                let fid = try r.u32()
                out[fid] = try r.length(max: Int(Int64.max))
            }
            guard r.isAtEnd else {
                throw SettError.corruption("trailing bytes in discard file", file: nil, offset: Int64(r.offset))
            }
            return out
        } catch let e as SettError {
            throw e.located(file: path)
        }
    }

    // MARK: Persistence

    /// Loads dir/DISCARD; absent or unreadable gives empty statistics (logged).
    static func load(fs: any FileSystem, dir: String, logger: Logger) -> DiscardStats {
        let path = joinPath(dir, fileName)
        guard fs.exists(path) else { return DiscardStats() }
        do {
            let f = try fs.open(path, .readOnly)
            defer { f.close() }
            let bytes = try f.readExactly(Int(try f.size()), at: 0)
            return DiscardStats(try bytes.withUnsafeBytes { try decode($0, path: path) })
        } catch {
            logger.error("value log: ignoring unreadable discard statistics, starting empty: \(error)")
            return DiscardStats()
        }
    }

    /// Writes the statistics (keeping only `liveFids`) atomically to dir/DISCARD.
    func persist(fs: any FileSystem, dir: String, liveFids: Set<UInt32>) throws {
        let data = DiscardStats.encode(snapshot.filter { liveFids.contains($0.key) })
        let path = joinPath(dir, DiscardStats.fileName)
        let tmp = path + ".tmp"
        if fs.exists(tmp) { try fs.remove(tmp) }
        let f = try fs.open(tmp, .createNew)
        do {
            try f.write(data, at: 0)
            try f.sync()
            f.close()
        } catch {
            f.close()
            try? fs.remove(tmp)
            throw error
        }
        try fs.rename(tmp, path)
        try fs.syncDirectory(dir)
    }
}
