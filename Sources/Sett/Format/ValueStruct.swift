/// Entry meta bits. DO NOT CHANGE THESE VALUES: they are stored in WAL records,
/// value-log entries, memtables and tables.
enum EntryMeta {
    /// A tombstone: the key is deleted at this version.
    static let delete: UInt8 = 1 << 0
    /// The value bytes are a 12-byte `ValuePointer` into the value log.
    static let valuePointer: UInt8 = 1 << 1
    /// Versions older than this one may be dropped by compaction.
    static let discardEarlierVersions: UInt8 = 1 << 2
    /// Every bit Sett understands in stored entries; anything else is corruption.
    static let known: UInt8 = delete | valuePointer | discardEarlierVersions
    /// WAL records only, on every entry of a record: the batch is a value-log GC rewrite
    /// (live values moved to a new value-log file at their own versions), not a commit.
    /// Replay applies it like any record; the commit feed skips it. Never stored in
    /// memtables, tables or the value log (`WALBatchView` strips it).
    static let valueLogRewrite: UInt8 = 1 << 3
    /// Every bit a WAL record may carry.
    static let walKnown: UInt8 = known | valueLogRewrite
}

/// A value as stored beside a key in memtables and tables:
///
///     value := meta u8 | userMeta u8 | expiresAt uvarint | bytes (the rest)
///
/// `bytes` is the inline value, or a 12-byte value pointer when meta has `.valuePointer`.
/// Borrowed: valid only while the memory it came from is.
struct ValueView {
    var meta: UInt8
    var userMeta: UInt8
    var expiresAt: UInt64
    var bytes: UnsafeRawBufferPointer

    var isDeleted: Bool { meta & EntryMeta.delete != 0 }
    var isPointer: Bool { meta & EntryMeta.valuePointer != 0 }

    /// Size of the encoded form.
    var encodedSize: Int { 2 + ByteWriter.uvarintSize(expiresAt) + bytes.count }

    /// Writes the encoded form to `out`, which must hold `encodedSize` bytes.
    @inline(__always)
    func encode(into out: UnsafeMutableRawPointer) {
        out.storeBytes(of: meta, toByteOffset: 0, as: UInt8.self)
        out.storeBytes(of: userMeta, toByteOffset: 1, as: UInt8.self)
        var i = 2
        var v = expiresAt
        while v >= 0x80 {
            out.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, toByteOffset: i, as: UInt8.self)
            v >>= 7
            i += 1
        }
        out.storeBytes(of: UInt8(v), toByteOffset: i, as: UInt8.self)
        i += 1
        if bytes.count > 0 { (out + i).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
    }

    func encode(into w: inout ByteWriter) {
        w.u8(meta)
        w.u8(userMeta)
        w.uvarint(expiresAt)
        w.append(bytes)
    }

    /// Decodes an encoded value; throws `.corruption` on malformed bytes.
    static func decode(_ raw: UnsafeRawBufferPointer) throws -> ValueView {
        var r = ByteReader(raw)
        let meta = try r.u8()
        let userMeta = try r.u8()
        let expiresAt = try r.uvarint()
        let rest = try r.bytes(r.remaining)
        if meta & ~EntryMeta.known != 0 {
            throw SettError.corruption("unknown entry meta bits \(meta)", file: nil, offset: 0)
        }
        if meta & EntryMeta.valuePointer != 0 && rest.count != ValuePointer.encodedSize {
            throw SettError.corruption("value pointer of \(rest.count) bytes", file: nil, offset: Int64(r.offset))
        }
        return ValueView(meta: meta, userMeta: userMeta, expiresAt: expiresAt, bytes: rest)
    }
}

/// Where a value lives in the value log.
///
///     pointer := fid u32 | len u32 | offset u32      (little-endian, 12 bytes)
///
/// `len` is the length of the whole value-log entry starting at `offset` in file `fid`.
struct ValuePointer: Equatable, Hashable, Sendable {
    static let encodedSize = 12
    var fid: UInt32
    var len: UInt32
    var offset: UInt32

    func encode() -> [UInt8] {
        var w = ByteWriter(capacity: 12)
        w.u32(fid)
        w.u32(len)
        w.u32(offset)
        return w.bytes
    }

    static func decode(_ raw: UnsafeRawBufferPointer) throws -> ValuePointer {
        var r = ByteReader(raw)
        guard raw.count == encodedSize else {
            throw SettError.corruption("value pointer of \(raw.count) bytes", file: nil, offset: nil)
        }
        return ValuePointer(fid: try r.u32(), len: try r.u32(), offset: try r.u32())
    }
}
