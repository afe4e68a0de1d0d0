import CSettShims

/// CRC32C (Castagnoli), hardware-accelerated where the CPU has SSE4.2.
/// Every record Sett writes to disk carries one of these.
enum CRC32C {
    @inline(__always)
    static func checksum(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return seed }
        return sett_crc32c_extend(seed, base, bytes.count)
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}
