#if canImport(Glibc)
import Glibc
#endif

/// Versioned ("internal") keys.
///
///     internal key := user key | BE64(UInt64.max - version)
///
/// Ordering: by user key (bytewise), then by version descending, so the newest
/// version of a key comes first and a seek to (k, T) lands on the newest version <= T.
/// Version 0 is never written; UInt64.max is reserved for "seek past all versions".
enum InternalKey {
    static let suffixSize = 8

    static func make(_ userKey: UnsafeRawBufferPointer, version: UInt64) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(userKey.count + 8)
        out.append(contentsOf: userKey)
        appendSuffix(&out, version: version)
        return out
    }

    static func make(_ userKey: [UInt8], version: UInt64) -> [UInt8] {
        userKey.withUnsafeBytes { make($0, version: version) }
    }

    @inline(__always)
    static func appendSuffix(_ out: inout [UInt8], version: UInt64) {
        withUnsafeBytes(of: (UInt64.max - version).bigEndian) { out.append(contentsOf: $0) }
    }

    /// The user-key part. `key` must be at least 8 bytes (checked by decoders).
    @inline(__always)
    static func userKey(_ key: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: key[0 ..< key.count - suffixSize])
    }

    @inline(__always)
    static func version(_ key: UnsafeRawBufferPointer) -> UInt64 {
        UInt64.max - UInt64(bigEndian: key.loadUnaligned(fromByteOffset: key.count - suffixSize, as: UInt64.self))
    }

    /// Three-way comparison of internal keys: <0, 0, >0.
    @inline(__always)
    static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let c = compareBytes(userKey(a), userKey(b))
        if c != 0 { return c }
        let va = a.loadUnaligned(fromByteOffset: a.count - suffixSize, as: UInt64.self)
        let vb = b.loadUnaligned(fromByteOffset: b.count - suffixSize, as: UInt64.self)
        let x = UInt64(bigEndian: va), y = UInt64(bigEndian: vb)
        return x < y ? -1 : (x > y ? 1 : 0)
    }

    /// True when both internal keys carry the same user key.
    @inline(__always)
    static func sameUserKey(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        a.count == b.count && compareBytes(userKey(a), userKey(b)) == 0
    }
}

/// Bytewise three-way comparison (memcmp, then length).
@inline(__always)
func compareBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    let n = min(a.count, b.count)
    if n > 0 {
        let c = memcmp(a.baseAddress!, b.baseAddress!, n)
        if c != 0 { return Int(c) }
    }
    return a.count - b.count
}

func compareBytes(_ a: [UInt8], _ b: [UInt8]) -> Int {
    a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in compareBytes(pa, pb) } }
}
