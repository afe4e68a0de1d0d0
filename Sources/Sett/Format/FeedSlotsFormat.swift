/// The commit feed's retention slots, file `SLOTS` (in `dir`):
///
///     file  := magic "SETTSLT" (7 bytes) | formatVersion u8 = 0x01 | count uvarint
///              | slot{count} | crc u32 LE
///     slot  := nameLen uvarint (1...64) | name (UTF-8) | position u64 LE
///              crc = CRC32C (Castagnoli, seed 0) over every byte before it
///
/// Slots are sorted by name, names unique. Replaced atomically (`SLOTS.tmp`, fsync,
/// rename, fsync directory). A missing file means no slots. A damaged file is
/// `.corruption` naming the file: dropping slots silently could let retention delete
/// history a consumer still needs.
///
/// The format version byte is part of the magic: DO NOT CHANGE 0x01's meaning.
enum FeedSlotsFormat {
    static let magic: [UInt8] = Array("SETTSLT".utf8) + [0x01]
    static let fileName = "SLOTS"
    static let maxNameBytes = 64
    static let maxFileBytes = 1 << 20

    static func encode(_ slots: [String: UInt64]) -> [UInt8] {
        var w = ByteWriter(capacity: 16 + slots.count * 32)
        w.append(magic)
        w.uvarint(UInt64(slots.count))
        for (name, position) in slots.sorted(by: { $0.key < $1.key }) {
            let bytes = Array(name.utf8)
            w.uvarint(UInt64(bytes.count))
            w.append(bytes)
            w.u64(position)
        }
        let crc = w.bytes.withUnsafeBytes { CRC32C.checksum($0) }
        w.u32(crc)
        return w.bytes
    }

    static func decode(_ bytes: [UInt8], path: String) throws -> [String: UInt64] {
        do {
            return try bytes.withUnsafeBytes { raw in
                guard raw.count >= magic.count + 1 + 4 else {
                    throw SettError.corruption("slots file truncated (\(raw.count) bytes)", file: path, offset: 0)
                }
                let body = UnsafeRawBufferPointer(rebasing: raw[0 ..< raw.count - 4])
                var tail = ByteReader(raw, offset: raw.count - 4)
                guard try tail.u32() == CRC32C.checksum(body) else {
                    throw SettError.corruption("slots file checksum mismatch", file: path, offset: Int64(raw.count - 4))
                }
                var r = ByteReader(body)
                guard try r.bytes(magic.count).elementsEqual(magic) else {
                    throw SettError.corruption("not a slots file (bad magic or version)", file: path, offset: 0)
                }
                let count = try r.length(max: body.count)
                var slots: [String: UInt64] = [:]
                for _ in 0 ..< count {
                    let at = r.offset
                    let n = try r.length(max: maxNameBytes)
                    guard n >= 1, let name = String(validating: try r.bytes(n), as: UTF8.self), isValidName(name) else {
                        throw SettError.corruption("bad slot name", file: path, offset: Int64(at))
                    }
                    let position = try r.u64()
                    guard slots.updateValue(position, forKey: name) == nil else {
                        throw SettError.corruption("slot \(name) listed twice", file: path, offset: Int64(at))
                    }
                }
                guard r.isAtEnd else {
                    throw SettError.corruption("\(r.remaining) bytes after the last slot", file: path, offset: Int64(r.offset))
                }
                return slots
            }
        } catch let e as SettError {
            throw e.file == nil ? SettError(e.code, e.message, file: path, offset: e.offset) : e
        }
    }

    /// 1...64 bytes of ASCII letters, digits, `_`, `-` and `.`.
    static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1 ... maxNameBytes).contains(bytes.count) else { return false }
        return bytes.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2D
                || b == 0x2E
        }
    }
}
