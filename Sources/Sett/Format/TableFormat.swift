/// Table files ("000042.sst").
///
///     table  := block{blockCount} | bloom | index | footer
///
/// Data blocks (Format/BlockFormat.swift) start at offset 0 and are contiguous; the
/// bloom filter (possibly empty) follows them, then the index, then the fixed footer.
///
///     footer := indexOffset u64 | indexLength u32 | indexCrc u32 | formatVersion u32
///             | footerCrc u32 | magic "sett.sst" (8 bytes)          (32 bytes, little-endian)
///
/// `indexCrc` is the CRC32C of the index bytes; `footerCrc` the CRC32C of the 20 footer
/// bytes before it. `formatVersion` is 2 for tables written now; version 1 tables (no
/// `deletionCount`) are still read. The index ends where the footer starts.
///
///     index  := compression u8 | blockCount uvarint | keyCount uvarint | maxVersion uvarint
///             | uncompressedSize uvarint | bloomOffset uvarint | bloomLength uvarint | bloomCrc u32
///             | smallestLen uvarint | smallest | biggestLen uvarint | biggest
///             | handle{blockCount}
///             | deletionCount uvarint                                  (version 2 only)
///     handle := storedLength uvarint | firstKeyLen uvarint | firstKey
///
/// `compression` is the table's `Compression` raw value (DO NOT CHANGE; individual
/// blocks may still be stored raw). `keyCount` counts entries (every version).
/// `uncompressedSize` is the sum of the uncompressed block sizes. `smallest`, `biggest`
/// and `firstKey` are internal keys (>= 8 bytes). Block i starts at the sum of the
/// stored lengths (payload + trailer) of blocks 0..<i; the blocks end exactly at
/// `bloomOffset`, and `bloomOffset + bloomLength` is the index offset. `bloomCrc` is the
/// CRC32C of the bloom bytes (0 when bloomLength is 0: no filter). blockCount >= 1.
/// `deletionCount` counts tombstone entries (<= keyCount); compaction uses it to push
/// tombstone-heavy tables down (0 for version 1 tables: unknown).
///
///     bloom  := kind u8 | probes u8 | lineCount u32 | line{lineCount}
///     line   := 64 bytes = 512 bits; bit b is bit (b & 7) of byte (b >> 3)
///
/// `kind` 1 (DO NOT CHANGE) is a cache-line-blocked bloom filter over user keys (no
/// version). For h = KeyHash.hash(userKey): the line is (low32(h) * lineCount) >> 32, and
/// probe i in 1...probes sets/tests bit (h * 0x9E3779B97F4A7C15^i mod 2^64) >> 55.
enum TableFormat {
    static let footerSize = 32
    /// The version written. DO NOT CHANGE a version's meaning; a new layout takes a new one.
    static let formatVersion: UInt32 = 2
    /// Versions read: 1 (no deletion count) and 2.
    static let readableVersions: ClosedRange<UInt32> = 1 ... 2
    /// "sett.sst"
    static let magic: [UInt8] = Array("sett.sst".utf8)
    static let magicU64: UInt64 = magic.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    /// Bloom filter kind byte. DO NOT CHANGE.
    static let bloomKindBlocked512: UInt8 = 1

    struct Footer: Equatable {
        var indexOffset: UInt64
        var indexLength: UInt32
        var indexChecksum: UInt32
        var version: UInt32 = formatVersion
    }

    static func encodeFooter(_ f: Footer, into out: inout [UInt8]) {
        let start = out.count
        var w = ByteWriter(capacity: footerSize)
        w.u64(f.indexOffset)
        w.u32(f.indexLength)
        w.u32(f.indexChecksum)
        w.u32(formatVersion)
        let crc = CRC32C.checksum(w.bytes)
        w.u32(crc)
        w.append(magic)
        out.append(contentsOf: w.bytes)
        assert(out.count - start == footerSize)
    }

    /// Decodes the footer from the last `footerSize` bytes of a file of `fileSize` bytes,
    /// checking magic, version, checksum and that the index lies inside the file.
    static func decodeFooter(_ raw: UnsafeRawBufferPointer, fileSize: Int) throws -> Footer {
        guard raw.count == footerSize else {
            throw SettError.corruption("table footer truncated", file: nil, offset: 0)
        }
        var r = ByteReader(raw)
        let indexOffset = try r.u64()
        let indexLength = try r.u32()
        let indexChecksum = try r.u32()
        let version = try r.u32()
        let stored = try r.u32()
        let magic = try r.u64()
        guard magic == magicU64 else {
            throw SettError.corruption("bad table magic (not a Sett table, or truncated)", file: nil, offset: 24)
        }
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0 ..< 20]))
        guard crc == stored else {
            throw SettError.corruption("table footer checksum mismatch", file: nil, offset: 16)
        }
        guard readableVersions.contains(version) else {
            throw SettError(.unsupported, "table format version \(version) is not supported")
        }
        let footerStart = UInt64(fileSize - footerSize)
        guard indexOffset <= footerStart, footerStart - indexOffset == UInt64(indexLength) else {
            throw SettError.corruption("table index location \(indexOffset)+\(indexLength) does not end at the footer",
                                       file: nil, offset: 0)
        }
        return Footer(indexOffset: indexOffset, indexLength: indexLength, indexChecksum: indexChecksum, version: version)
    }

    /// Summary fields of the index; block handles are passed separately.
    struct IndexHeader {
        var compression: Compression
        var blockCount: Int
        var keyCount: Int
        var maxVersion: UInt64
        var uncompressedSize: Int
        var bloomOffset: Int
        var bloomLength: Int
        var bloomChecksum: UInt32
        /// Tombstone entries (version 2; 0 = unknown in version 1).
        var deletionCount = 0
    }

    /// Encodes the index. Block i has stored length `storedLengths[i]` and first key
    /// `firstKeys[firstKeyEnds[i-1] ..< firstKeyEnds[i]]` (one contiguous buffer).
    static func encodeIndex(_ h: IndexHeader, smallest: [UInt8], biggest: [UInt8],
                            storedLengths: [Int], firstKeys: [UInt8], firstKeyEnds: [Int]) -> [UInt8] {
        var w = ByteWriter(capacity: 64 + firstKeys.count + smallest.count + biggest.count + 4 * storedLengths.count)
        w.u8(h.compression.rawValue)
        w.uvarint(UInt64(h.blockCount))
        w.uvarint(UInt64(h.keyCount))
        w.uvarint(h.maxVersion)
        w.uvarint(UInt64(h.uncompressedSize))
        w.uvarint(UInt64(h.bloomOffset))
        w.uvarint(UInt64(h.bloomLength))
        w.u32(h.bloomChecksum)
        w.uvarint(UInt64(smallest.count))
        w.append(smallest)
        w.uvarint(UInt64(biggest.count))
        w.append(biggest)
        var start = 0
        firstKeys.withUnsafeBytes { keys in
            for i in 0 ..< storedLengths.count {
                w.uvarint(UInt64(storedLengths[i]))
                let end = firstKeyEnds[i]
                w.uvarint(UInt64(end - start))
                w.append(UnsafeRawBufferPointer(rebasing: keys[start ..< end]))
                start = end
            }
        }
        w.uvarint(UInt64(h.deletionCount))
        return w.bytes
    }

    /// Decodes and validates an index (whose checksum the caller verified) of a table of
    /// format `version`. `indexOffset` is where the index starts in the file, for the
    /// layout checks.
    static func decodeIndex(_ raw: UnsafeRawBufferPointer, indexOffset: Int,
                            version: UInt32 = formatVersion) throws -> TableIndex {
        var r = ByteReader(raw)
        let compressionByte = try r.u8()
        guard let compression = Compression(rawValue: compressionByte) else {
            throw SettError.corruption("unknown table compression \(compressionByte)", file: nil, offset: 0)
        }
        let blockCount = try r.length(max: raw.count / 2)
        let keyCount = try r.length(max: Int(Int32.max) * 64)
        let maxVersion = try r.uvarint()
        let uncompressedSize = try r.length(max: Int.max >> 1)
        let bloomOffset = try r.length(max: indexOffset)
        let bloomLength = try r.length(max: indexOffset)
        let bloomChecksum = try r.u32()
        guard blockCount >= 1, bloomOffset + bloomLength == indexOffset else {
            throw SettError.corruption("table index has \(blockCount) blocks and bloom \(bloomOffset)+\(bloomLength) "
                                       + "not ending at the index (\(indexOffset))", file: nil, offset: 0)
        }
        let smallest = try readKey(&r)
        let biggest = try readKey(&r)
        var header = IndexHeader(compression: compression, blockCount: blockCount, keyCount: keyCount,
                                 maxVersion: maxVersion, uncompressedSize: uncompressedSize,
                                 bloomOffset: bloomOffset, bloomLength: bloomLength, bloomChecksum: bloomChecksum)
        let handlesStart = r.offset
        // First pass: sizes and validation; second pass: fill the contiguous buffers.
        var keyBytes = 0
        var dataEnd = 0
        for _ in 0 ..< blockCount {
            let stored = try r.length(max: indexOffset)
            guard stored >= BlockFormat.trailerSize + 1 else {
                throw SettError.corruption("table block of \(stored) stored bytes", file: nil, offset: Int64(r.offset))
            }
            dataEnd += stored
            let k = try readKey(&r)
            keyBytes += k.count
        }
        if version >= 2 {
            let at = r.offset
            header.deletionCount = try r.length(max: Int.max >> 1)
            guard header.deletionCount <= keyCount else {
                throw SettError.corruption("table index counts \(header.deletionCount) deletions in \(keyCount) entries",
                                           file: nil, offset: Int64(at))
            }
        }
        guard r.isAtEnd else {
            throw SettError.corruption("\(r.remaining) trailing bytes after the table index", file: nil, offset: Int64(r.offset))
        }
        guard dataEnd == bloomOffset else {
            throw SettError.corruption("table blocks end at \(dataEnd), bloom starts at \(bloomOffset)", file: nil, offset: 0)
        }
        let index = TableIndex(header: header, smallest: smallest, biggest: biggest, keyBytes: keyBytes)
        var r2 = ByteReader(raw, offset: handlesStart)
        var blockStart = 0
        for i in 0 ..< blockCount {
            let stored = try r2.length(max: indexOffset)
            let k = try readKey(&r2)
            index.set(block: i, offset: blockStart, firstKey: k)
            blockStart += stored
        }
        index.finish(dataEnd: blockStart)
        return index
    }

    /// An internal key: length uvarint, then at least 8 bytes (the version suffix).
    private static func readKey(_ r: inout ByteReader) throws -> UnsafeRawBufferPointer {
        let at = r.offset
        let n = try r.length(max: r.remaining)
        guard n >= InternalKey.suffixSize else {
            throw SettError.corruption("internal key of \(n) bytes in table index", file: nil, offset: Int64(at))
        }
        return try r.bytes(n)
    }
}
