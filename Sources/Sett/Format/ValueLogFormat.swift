/// Value-log files, named "<fid>.vlog" with fid in decimal, zero-padded to at least 6 digits:
///
///     file     := header entry*
///     header   := magic "SETTVLG" 0x01 (8 bytes) | fid u32 | keyId u64 | reserved u32      (24 bytes)
///     entry    := crc32c u32 | keyLen uvarint | valueLen uvarint | meta u8 | userMeta u8
///                 | expiresAt uvarint | version u64 | key | value
///
/// All integers little-endian. `fid` repeats the number in the file name. `keyId` is room
/// for an encryption key id later: 0 means plaintext, and until encryption exists any
/// other value is refused as `.unsupported`; `reserved` must be 0.
/// `crc32c` covers every byte of the entry after the crc itself (lengths, meta, key and
/// value). `key` is the user key (1...65535 bytes), `version` its version; `meta` holds
/// `EntryMeta` bits of the original write (never `.valuePointer` or `.delete`), `userMeta`
/// and `expiresAt` as given by the user. A `ValuePointer` names an entry by file, offset of
/// its first (crc) byte and its whole length.
///
/// Discard statistics, file "DISCARD" in the value directory (rewritten atomically):
///
///     discard  := magic "SETTDSC" 0x01 | count uvarint | (fid u32 | bytes uvarint)*count | crc32c u32
///
/// where the trailing crc32c covers every byte before it.
enum ValueLogFormat {
    static let magic: [UInt8] = Array("SETTVLG".utf8) + [0x01]
    static let headerSize = 24
    static let fileSuffix = ".vlog"
    /// Longest key an entry may carry (keys are limited to 65000 by `Options`).
    static let maxKeyLength = 65535
    /// Longest value an entry may carry (values are limited below 2 GiB by `Options`).
    static let maxValueLength = Int(Int32.max)
    /// Fixed bytes of an entry besides its varints: crc, meta, userMeta, version.
    static let fixedEntryBytes = 4 + 1 + 1 + 8
    /// Smallest possible entry: fixed bytes, three 1-byte varints, a 1-byte key.
    static let minEntrySize = fixedEntryBytes + 3 + 1

    static func fileName(_ fid: UInt32) -> String {
        var digits = String(fid)
        if digits.count < 6 { digits = String(repeating: "0", count: 6 - digits.count) + digits }
        return digits + fileSuffix
    }

    /// The fid of a name produced by `fileName`, or nil for any other name.
    static func parseFileName(_ name: String) -> UInt32? {
        guard name.hasSuffix(fileSuffix) else { return nil }
        let stem = name.utf8.dropLast(fileSuffix.utf8.count)
        guard stem.count >= 6, stem.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return UInt32(String(decoding: stem, as: UTF8.self))
    }

    static func encodeHeader(fid: UInt32) -> [UInt8] {
        var w = ByteWriter(capacity: headerSize)
        w.append(magic)
        w.u32(fid)
        w.u64(0)   // keyId: plaintext
        w.u32(0)   // reserved
        return w.bytes
    }

    /// Validates a header read from `path`; errors name the file and offset.
    static func checkHeader(_ raw: UnsafeRawBufferPointer, fid: UInt32, path: String) throws {
        guard raw.count >= headerSize else {
            throw SettError.corruption("value-log header truncated (\(raw.count) of \(headerSize) bytes)",
                                       file: path, offset: 0)
        }
        var r = ByteReader(raw)
        let m = try r.bytes(magic.count)
        guard m.elementsEqual(magic) else {
            throw SettError.corruption("not a value-log file (bad magic)", file: path, offset: 0)
        }
        let storedFid = try r.u32()
        guard storedFid == fid else {
            throw SettError.corruption("header names file id \(storedFid), file name says \(fid)", file: path, offset: 8)
        }
        let keyId = try r.u64()
        guard keyId == 0 else {
            throw SettError(.unsupported, "value-log file is encrypted (key id \(keyId)); encryption is not supported",
                            file: path, offset: 12)
        }
        guard try r.u32() == 0 else {
            throw SettError.corruption("reserved header bytes are not zero", file: path, offset: 20)
        }
    }

    /// Encoded size of one entry.
    @inline(__always)
    static func entrySize(keyCount: Int, valueCount: Int, expiresAt: UInt64) -> Int {
        fixedEntryBytes + ByteWriter.uvarintSize(UInt64(keyCount)) + ByteWriter.uvarintSize(UInt64(valueCount))
            + ByteWriter.uvarintSize(expiresAt) + keyCount + valueCount
    }

    /// Appends one entry (crc included) to `w`.
    static func encodeEntry(into w: inout ByteWriter, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer,
                            version: UInt64, meta: UInt8, userMeta: UInt8, expiresAt: UInt64) {
        let start = w.count
        w.u32(0)
        w.uvarint(UInt64(key.count))
        w.uvarint(UInt64(value.count))
        w.u8(meta)
        w.u8(userMeta)
        w.uvarint(expiresAt)
        w.u64(version)
        w.append(key)
        w.append(value)
        let crc = w.bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[(start + 4)...])) }
        w.patchU32(crc, at: start)
    }

    /// The decoded header of one entry; key and value positions are relative to the entry start.
    struct DecodedEntry {
        var meta: UInt8
        var userMeta: UInt8
        var expiresAt: UInt64
        var version: UInt64
        var keyOffset: Int
        var keyCount: Int
        var valueOffset: Int
        var valueCount: Int
        /// Whole entry length (crc to end of value).
        var size: Int { valueOffset + valueCount }
    }

    /// Decodes the entry at the start of `raw` (which may extend past it). Errors carry
    /// offsets relative to the entry start and no file; callers locate them.
    static func decodeEntry(_ raw: UnsafeRawBufferPointer, verifyChecksum: Bool) throws -> DecodedEntry {
        var r = ByteReader(raw)
        let crc = try r.u32()
        let keyCount = try r.length(max: maxKeyLength)
        let valueCount = try r.length(max: maxValueLength)
        let metaAt = r.offset
        let meta = try r.u8()
        let userMeta = try r.u8()
        let expiresAt = try r.uvarint()
        let version = try r.u64()
        let keyOffset = r.offset
        guard keyCount > 0 else { throw SettError.corruption("value-log entry with empty key", file: nil, offset: 4) }
        guard meta & ~EntryMeta.known == 0, meta & (EntryMeta.valuePointer | EntryMeta.delete) == 0 else {
            throw SettError.corruption("bad value-log entry meta \(meta)", file: nil, offset: Int64(metaAt))
        }
        guard keyCount + valueCount <= r.remaining else {
            throw SettError.corruption("value-log entry truncated: needs \(keyCount + valueCount) bytes of key and "
                                       + "value, have \(r.remaining)", file: nil, offset: Int64(keyOffset))
        }
        let e = DecodedEntry(meta: meta, userMeta: userMeta, expiresAt: expiresAt, version: version,
                             keyOffset: keyOffset, keyCount: keyCount, valueOffset: keyOffset + keyCount,
                             valueCount: valueCount)
        if verifyChecksum {
            let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[4 ..< e.size]))
            guard actual == crc else {
                throw SettError.corruption("value-log entry checksum mismatch (stored \(crc), computed \(actual))",
                                           file: nil, offset: 0)
            }
        }
        return e
    }
}

/// One value-log entry as iteration shows it. Key and value borrow the file's bytes
/// and are valid only during the callback.
struct ValueLogEntryView {
    var key: UnsafeRawBufferPointer
    var version: UInt64
    var meta: UInt8
    var userMeta: UInt8
    var expiresAt: UInt64
    var value: UnsafeRawBufferPointer
    /// The pointer that names this entry.
    var pointer: ValuePointer
}
