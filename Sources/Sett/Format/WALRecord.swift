/// Write-ahead log files (one per memtable, named `<fileId, 6+ digits>.wal`):
///
///     file    := header record*
///     header  := magic "SETTWAL" (7 bytes) | formatVersion u8 = 0x01 | fileId u64 LE     (16 bytes)
///     record  := crc u32 LE | length u32 LE | payload (length bytes)
///                crc = CRC32C (Castagnoli, seed 0) over the 4 length bytes, then payload
///     payload := count uvarint (>= 1) | entry × count
///     entry   := meta u8 | userMeta u8 | version u64 LE | expiresAt uvarint
///                | keyLen uvarint | valueLen uvarint | key (keyLen bytes) | value (valueLen bytes)
///
/// One record holds one `EntryBatch`; replay applies whole records only, so a batch is
/// never half applied. `key` is the user key (1...65535 bytes); `version` is in
/// 1..<UInt64.max; `meta` holds only `EntryMeta.walKnown` bits (`valueLogRewrite` marks
/// every entry of a value-log GC rewrite record, which is not a commit); when it has
/// `EntryMeta.valuePointer`, `value` is the 12-byte `ValuePointer` encoding
/// (fid u32 | len u32 | offset u32, LE) of the value in the value log. `expiresAt` is
/// Unix seconds, 0 = never.
///
/// Recovery: a record whose length runs past the end of the file, or whose checksum
/// does not match, ends the valid log (a torn write); the file is truncated there. A
/// record with a valid checksum whose payload breaks the grammar is corruption (a bug,
/// not a torn write) and is reported, not dropped. A file shorter than the header whose
/// bytes are a prefix of the expected header (including an empty file) is a creation
/// torn by a crash: it holds no records.
///
/// The format version byte is part of the magic: DO NOT CHANGE 0x01's meaning; a new
/// layout takes a new value.
enum WALRecord {
    static let magic: [UInt8] = Array("SETTWAL".utf8) + [0x01]
    static let headerSize = 16
    /// Bytes before the payload: crc u32 + length u32.
    static let recordHeaderSize = 8
    static let maxKeySize = 1 << 16 - 1

    static func header(fileId: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: headerSize)
        w.append(magic)
        w.u64(fileId)
        return w.bytes
    }

    /// Appends one record for `batch` to `out`. `pointers[i] != nil` means entry i's
    /// value lives in the value log: the entry is stored with meta | `.valuePointer` and
    /// the 12 encoded pointer bytes as its value. `pointers.isEmpty` means none.
    static func encode(batch: EntryBatch, pointers: [ValuePointer?], into out: inout ByteWriter) {
        precondition(pointers.isEmpty || pointers.count == batch.count, "one pointer slot per entry")
        let start = out.count
        out.bytes.reserveCapacity(start + recordHeaderSize + 10 + batch.byteSize + batch.count * 24)
        out.u32(0)  // crc, patched below
        out.u32(0)  // length, patched below
        out.uvarint(UInt64(batch.count))
        var i = 0
        let mark = batch.isValueLogRewrite ? EntryMeta.valueLogRewrite : 0
        batch.forEach { slot, key, value in
            let pointer = pointers.isEmpty ? nil : pointers[i]
            i += 1
            out.u8((pointer == nil ? slot.meta : slot.meta | EntryMeta.valuePointer) | mark)
            out.u8(slot.userMeta)
            out.u64(slot.version)
            out.uvarint(slot.expiresAt)
            out.uvarint(UInt64(key.count))
            if let p = pointer {
                out.uvarint(UInt64(ValuePointer.encodedSize))
                out.append(key)
                out.u32(p.fid)
                out.u32(p.len)
                out.u32(p.offset)
            } else {
                out.uvarint(UInt64(value.count))
                out.append(key)
                out.append(value)
            }
        }
        let length = out.count - start - recordHeaderSize
        out.patchU32(UInt32(length), at: start + 4)
        let crc = out.bytes.withUnsafeBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(start + 4)...]))
        }
        out.patchU32(crc, at: start)
    }

    /// Checks a payload against the grammar; returns the entry count. Offsets in errors
    /// are relative to the payload start.
    static func validate(payload: UnsafeRawBufferPointer) throws -> (count: Int, entriesStart: Int) {
        var r = ByteReader(payload)
        let count = try r.length(max: payload.count)
        if count == 0 { throw SettError.corruption("WAL record with no entries", file: nil, offset: 0) }
        let entriesStart = r.offset
        for _ in 0 ..< count { _ = try decodeEntry(&r) }
        if !r.isAtEnd {
            throw SettError.corruption("\(r.remaining) bytes after the last entry of a WAL record", file: nil,
                                       offset: Int64(r.offset))
        }
        return (count, entriesStart)
    }

    /// Decodes one entry at the reader's position. `key` is the user key; everything
    /// is borrowed from the reader's buffer.
    @inline(__always)
    static func decodeEntry(_ r: inout ByteReader) throws -> (key: UnsafeRawBufferPointer, version: UInt64, value: ValueView) {
        let at = r.offset
        let meta = try r.u8()
        let userMeta = try r.u8()
        let version = try r.u64()
        let expiresAt = try r.uvarint()
        let keyLen = try r.length(max: maxKeySize)
        let valueLen = try r.length(max: r.remaining)
        let key = try r.bytes(keyLen)
        let value = try r.bytes(valueLen)
        if meta & ~EntryMeta.walKnown != 0 {
            throw SettError.corruption("unknown entry meta bits \(meta)", file: nil, offset: Int64(at))
        }
        if keyLen == 0 { throw SettError.corruption("empty key", file: nil, offset: Int64(at)) }
        if version == 0 || version == UInt64.max {
            throw SettError.corruption("entry version \(version) out of range", file: nil, offset: Int64(at))
        }
        if meta & EntryMeta.valuePointer != 0 && valueLen != ValuePointer.encodedSize {
            throw SettError.corruption("value pointer of \(valueLen) bytes", file: nil, offset: Int64(at))
        }
        return (key, version, ValueView(meta: meta, userMeta: userMeta, expiresAt: expiresAt, bytes: value))
    }
}

/// One replayed record (= one batch), borrowed from the replay buffer for the
/// duration of the replay callback. Its payload has already been validated.
struct WALBatchView {
    /// The entries, after the count varint.
    let entries: UnsafeRawBufferPointer
    let count: Int
    /// File offset of the record (its crc field).
    let fileOffset: Int64

    /// Calls `body` with each entry: user key, version and value, borrowed. The value's
    /// meta never has the WAL-only `valueLogRewrite` bit.
    func forEach(_ body: (_ key: UnsafeRawBufferPointer, _ version: UInt64, _ value: ValueView) throws -> Void) rethrows {
        var r = ByteReader(entries)
        for _ in 0 ..< count {
            // Validated when the record was read, so this never fails; stop quietly if it did.
            guard var e = try? WALRecord.decodeEntry(&r) else { return }
            e.value.meta &= ~EntryMeta.valueLogRewrite
            try body(e.key, e.version, e.value)
        }
    }

    /// The record is a value-log GC rewrite, not a commit (the commit feed skips it).
    var isValueLogRewrite: Bool {
        entries.count > 0 && entries[0] & EntryMeta.valueLogRewrite != 0
    }
}
