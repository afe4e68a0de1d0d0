/// Table data blocks.
///
/// A block, uncompressed (about `blockSize` bytes):
///
///     block   := entry{n} | entryOffset u32{n} | n u32          (little-endian)
///     entry   := overlap u16 | diffLen u16 | diff | value
///     value   := ValueView encoding (Format/ValueStruct.swift), running to the next
///                entry's offset (or, for the last entry, to the offsets array)
///
/// Every key is an internal key (user key | BE64(UInt64.max - version)), stored as the
/// first `overlap` bytes of the block's FIRST key followed by `diff` (diffLen bytes).
/// The first entry has overlap 0, so its diff is the whole first key. Prefixes are taken
/// against the first key (not the previous one) so that any entry can be decoded alone
/// and the offsets array supports binary search. `entryOffset[0]` is 0; offsets strictly
/// increase; n >= 1; keys ascend in `InternalKey.compare` order.
///
/// A block on disk:
///
///     stored block := payload | compression u8 | uncompressedLength u32 | crc32c u32
///
/// `payload` is the block compressed with `compression` (a `Compression` raw value,
/// DO NOT CHANGE), or the raw block when compression is `.none` (a compressed table
/// stores a block raw when compression saves less than 1/8). `uncompressedLength` is
/// the byte length of the decompressed block. `crc32c` covers payload, compression
/// byte and uncompressedLength (everything before it).
enum BlockFormat {
    /// compression u8 | uncompressedLength u32 | crc32c u32
    static let trailerSize = 9
    /// Smallest valid uncompressed block: one entry header with an 8-byte key, one
    /// offset and the count.
    static let minBlockSize = 4 + 8 + 4 + 4
    /// Largest uncompressed block accepted by readers (a single huge inline value
    /// can make a block far bigger than `blockSize`).
    static let maxUncompressedSize = Int(UInt32.max)

    /// Fixed-width fields of the trailer, decoded.
    struct Trailer {
        var compression: UInt8
        var uncompressedLength: UInt32
        var checksum: UInt32
    }

    /// Reads the trailer at the end of `stored` (payload + trailer).
    @inline(__always)
    static func trailer(of stored: UnsafeRawBufferPointer) -> Trailer? {
        guard stored.count >= trailerSize else { return nil }
        let t = stored.count - trailerSize
        return Trailer(
            compression: stored[t],
            uncompressedLength: UInt32(littleEndian: stored.loadUnaligned(fromByteOffset: t + 1, as: UInt32.self)),
            checksum: UInt32(littleEndian: stored.loadUnaligned(fromByteOffset: t + 5, as: UInt32.self)))
    }

    /// The checksum a stored block (payload + trailer) should carry.
    @inline(__always)
    static func computeChecksum(of stored: UnsafeRawBufferPointer) -> UInt32 {
        CRC32C.checksum(UnsafeRawBufferPointer(rebasing: stored[0 ..< stored.count - 4]))
    }

    /// Appends the trailer for `payload` (already appended to `out` at `payloadStart`).
    static func appendTrailer(_ out: inout [UInt8], payloadStart: Int, compression: Compression, uncompressedLength: Int) {
        out.append(compression.rawValue)
        withUnsafeBytes(of: UInt32(uncompressedLength).littleEndian) { out.append(contentsOf: $0) }
        let crc = out.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[payloadStart...])) }
        withUnsafeBytes(of: crc.littleEndian) { out.append(contentsOf: $0) }
    }
}
