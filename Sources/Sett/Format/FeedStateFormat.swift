/// The commit feed's state file `FEED` (in `dir`), written only when retention deletes
/// feed segments:
///
///     file  := magic "SETTFED" (7 bytes) | formatVersion u8 = 0x01 | floor u64 LE
///              | crc u32 LE                                                     (20 bytes)
///              crc = CRC32C (Castagnoli, seed 0) over the 16 bytes before it
///
/// `floor` is the highest commit timestamp in any feed segment deleted by retention
/// (0 = none deleted yet): a feed can be served from any timestamp above it.
/// The file is replaced atomically (`FEED.tmp`, fsync, rename, fsync directory) before
/// the segments it covers are removed. A missing file means floor 0. A file of the wrong
/// size, magic or checksum is `.corruption` naming the file.
///
/// The format version byte is part of the magic: DO NOT CHANGE 0x01's meaning.
enum FeedStateFormat {
    static let magic: [UInt8] = Array("SETTFED".utf8) + [0x01]
    static let fileName = "FEED"
    static let size = 20

    static func encode(floor: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: size)
        w.append(magic)
        w.u64(floor)
        let crc = w.bytes.withUnsafeBytes { CRC32C.checksum($0) }
        w.u32(crc)
        return w.bytes
    }

    static func decode(_ bytes: [UInt8], path: String) throws -> UInt64 {
        guard bytes.count == size else {
            throw SettError.corruption("feed state file has \(bytes.count) bytes, expected \(size)", file: path, offset: 0)
        }
        return try bytes.withUnsafeBytes { raw in
            var r = ByteReader(raw)
            let m = try r.bytes(8)
            guard m.elementsEqual(magic) else {
                throw SettError.corruption("not a feed state file (bad magic or version)", file: path, offset: 0)
            }
            let floor = try r.u64()
            let crc = try r.u32()
            guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0 ..< 16])) == crc else {
                throw SettError.corruption("feed state checksum mismatch", file: path, offset: 16)
            }
            return floor
        }
    }
}
