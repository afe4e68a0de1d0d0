/// A bounds-checked cursor over borrowed bytes. Every read of untrusted data goes
/// through it: a read past the end throws `.corruption` instead of trapping.
/// The buffer must outlive the reader; returned slices borrow it.
struct ByteReader {
    let buffer: UnsafeRawBufferPointer
    private(set) var offset: Int

    init(_ buffer: UnsafeRawBufferPointer, offset: Int = 0) {
        self.buffer = buffer
        self.offset = offset
    }

    var remaining: Int { buffer.count - offset }
    var isAtEnd: Bool { offset >= buffer.count }

    @inline(__always)
    private func need(_ n: Int) throws {
        if n < 0 || n > buffer.count - offset {
            throw SettError.corruption("truncated: need \(n) bytes, have \(buffer.count - offset)", file: nil, offset: Int64(offset))
        }
    }

    mutating func u8() throws -> UInt8 {
        try need(1)
        defer { offset += 1 }
        return buffer[offset]
    }

    mutating func u16() throws -> UInt16 {
        try need(2)
        defer { offset += 2 }
        return UInt16(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    mutating func u32() throws -> UInt32 {
        try need(4)
        defer { offset += 4 }
        return UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    mutating func u64() throws -> UInt64 {
        try need(8)
        defer { offset += 8 }
        return UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// LEB128 unsigned varint, at most 10 bytes.
    mutating func uvarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try u8()
            if shift == 63 && b > 1 {
                throw SettError.corruption("varint overflows 64 bits", file: nil, offset: Int64(offset - 1))
            }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw SettError.corruption("varint too long", file: nil, offset: Int64(offset)) }
        }
    }

    /// A varint that must fit in `Int` and be at most `limit`.
    mutating func length(max limit: Int) throws -> Int {
        let at = offset
        let v = try uvarint()
        guard v <= UInt64(limit) else {
            throw SettError.corruption("length \(v) exceeds limit \(limit)", file: nil, offset: Int64(at))
        }
        return Int(v)
    }

    mutating func bytes(_ n: Int) throws -> UnsafeRawBufferPointer {
        try need(n)
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: buffer[offset ..< offset + n])
    }

    mutating func skip(_ n: Int) throws {
        try need(n)
        offset += n
    }
}
