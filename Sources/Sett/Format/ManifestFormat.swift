/// The manifest, file "MANIFEST" in the main directory: which tables exist and at which level.
///
///     file     := header record*
///     header   := magic "SETTMAN" 0x01 (8 bytes) | version u32 (= 1)
///     record   := crc32c u32 | length u32 | payload (length bytes)
///     payload  := count uvarint | change*count
///     change   := op u8 | tableId uvarint | level u8 | compression u8
///
/// Integers little-endian. `crc32c` covers the 4 length bytes and the payload. `op`:
/// 1 = create, 2 = delete (DO NOT CHANGE). `compression` is the `Compression` raw value of
/// the table's blocks (0 for deletes). One record is one atomic group of changes, applied
/// in order; a delete names the level the table is at (a move between levels is a delete
/// and a create of the same id in one record).
///
/// A rewrite (MANIFEST-REWRITE renamed over MANIFEST) holds the header and one record with
/// a create for each live table.
enum ManifestFormat {
    static let fileName = "MANIFEST"
    static let rewriteFileName = "MANIFEST-REWRITE"
    static let magic: [UInt8] = Array("SETTMAN".utf8) + [0x01]
    static let version: UInt32 = 1
    static let headerSize = 12
    static let recordHeaderSize = 8
    /// Largest payload accepted (about 40 million changes).
    static let maxPayload = 256 << 20
    /// Levels fit in a byte; Options allows at most 16.
    static let maxLevel = 255

    static func encodeHeader() -> [UInt8] {
        var w = ByteWriter(capacity: headerSize)
        w.append(magic)
        w.u32(version)
        return w.bytes
    }

    static func checkHeader(_ raw: UnsafeRawBufferPointer, path: String) throws {
        var r = ByteReader(raw)
        guard raw.count >= headerSize else {
            throw SettError.corruption("manifest header truncated (\(raw.count) of \(headerSize) bytes)",
                                       file: path, offset: 0)
        }
        guard try r.bytes(magic.count).elementsEqual(magic) else {
            throw SettError.corruption("not a manifest (bad magic)", file: path, offset: 0)
        }
        let v = try r.u32()
        guard v == version else {
            throw SettError(.unsupported, "manifest format version \(v) is not supported (expected \(version))",
                            file: path, offset: 8)
        }
    }

    /// Appends one record holding `changes` to `w`.
    static func encodeRecord(_ changes: [ManifestChange], into w: inout ByteWriter) {
        let start = w.count
        w.u32(0)   // crc, patched below
        w.u32(0)   // length, patched below
        w.uvarint(UInt64(changes.count))
        for c in changes {
            w.u8(c.op.rawValue)
            w.uvarint(c.tableId)
            w.u8(UInt8(c.level))
            w.u8(c.compression.rawValue)
        }
        w.patchU32(UInt32(w.count - start - recordHeaderSize), at: start + 4)
        let crc = w.bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[(start + 4)...])) }
        w.patchU32(crc, at: start)
    }

    /// Decodes a payload. Errors carry offsets relative to the payload start and no file.
    static func decodePayload(_ raw: UnsafeRawBufferPointer) throws -> [ManifestChange] {
        var r = ByteReader(raw)
        let count = try r.length(max: raw.count / 4)
        var out: [ManifestChange] = []
        out.reserveCapacity(count)
        for _ in 0 ..< count {
            let at = r.offset
            let rawOp = try r.u8()
            guard let op = ManifestChange.Op(rawValue: rawOp) else {
                throw SettError.corruption("unknown manifest change op \(rawOp)", file: nil, offset: Int64(at))
            }
            let id = try r.uvarint()
            let level = Int(try r.u8())
            let rawCompression = try r.u8()
            guard let compression = Compression(rawValue: rawCompression) else {
                throw SettError.corruption("unknown compression \(rawCompression) in manifest change",
                                           file: nil, offset: Int64(r.offset - 1))
            }
            out.append(ManifestChange(op: op, tableId: id, level: level, compression: compression))
        }
        guard r.isAtEnd else {
            throw SettError.corruption("\(r.remaining) trailing bytes after manifest changes", file: nil,
                                       offset: Int64(r.offset))
        }
        return out
    }
}

/// One edit of the set of tables.
struct ManifestChange: Sendable, Equatable {
    /// DO NOT CHANGE the raw values: they are stored in the manifest.
    enum Op: UInt8, Sendable {
        case create = 1
        case delete = 2
    }

    var op: Op
    var tableId: UInt64
    var level: Int
    var compression: Compression

    static func create(_ id: UInt64, level: Int, compression: Compression) -> ManifestChange {
        ManifestChange(op: .create, tableId: id, level: level, compression: compression)
    }

    static func delete(_ id: UInt64, level: Int) -> ManifestChange {
        ManifestChange(op: .delete, tableId: id, level: level, compression: .none)
    }
}
