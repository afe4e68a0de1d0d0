#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A decompressed block that owns its memory; what the block cache holds.
/// Immutable after init; shared between threads.
final class DecodedBlock: @unchecked Sendable {
    let buffer: UnsafeMutableRawBufferPointer
    /// Set right after decompression; valid while this object lives.
    private(set) var view: BlockView!

    init(count: Int) {
        buffer = .allocate(byteCount: max(count, 1), alignment: 16)
    }

    func setView(_ v: BlockView) { view = v }

    deinit { buffer.deallocate() }
}

/// One entry of a block, decoded in place: key = firstKey[0 ..< overlap] ++ diff.
/// The builder never shares the 8-byte version suffix, so `diff.count >= 8` and the
/// suffix is always the last 8 bytes of `diff`.
struct BlockEntry {
    var overlap: Int
    var diff: UnsafeRawBufferPointer
    var value: UnsafeRawBufferPointer

    @inline(__always) var keyCount: Int { overlap &+ diff.count }
}

/// A seek key prepared for comparisons against the entries of one block: the common
/// prefix of the block's first key and the seek key's user key is computed once, so most
/// comparisons skip the shared part.
struct BlockSeekTarget {
    let key: UnsafeRawBufferPointer
    let userCount: Int
    let commonPrefix: Int
    /// Sign of firstKey[commonPrefix] - key[commonPrefix] when they differ there.
    let firstSign: Int
}

/// A validated, borrowed view of an uncompressed block (grammar: Format/BlockFormat.swift).
/// Validation at init is O(1); each entry access checks its own bounds, so corrupt bytes
/// give `.corruption` (with the in-block offset), never a trap.
struct BlockView: @unchecked Sendable {
    let base: UnsafeRawPointer
    /// Start of the offsets array = end of the entries.
    let entriesEnd: Int
    let count: Int
    private(set) var firstKey: UnsafeRawBufferPointer

    /// A view with no entries, for iterators that have not loaded a block yet.
    static let empty = BlockView(base: UnsafeRawPointer(bitPattern: 16)!, entriesEnd: 0, count: 0,
                                 firstKey: UnsafeRawBufferPointer(start: nil, count: 0))

    private init(base: UnsafeRawPointer, entriesEnd: Int, count: Int, firstKey: UnsafeRawBufferPointer) {
        self.base = base
        self.entriesEnd = entriesEnd
        self.count = count
        self.firstKey = firstKey
    }

    init(_ raw: UnsafeRawBufferPointer) throws(SettError) {
        guard raw.count >= BlockFormat.minBlockSize, let base = raw.baseAddress else {
            throw SettError.corruption("block of \(raw.count) bytes is too small", file: nil, offset: 0)
        }
        let n = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: raw.count - 4, as: UInt32.self)))
        guard n >= 1, n <= (raw.count - 4) / 4 - 2 else {
            throw SettError.corruption("block claims \(n) entries in \(raw.count) bytes", file: nil, offset: Int64(raw.count - 4))
        }
        self.base = base
        count = n
        entriesEnd = raw.count - 4 - 4 * n
        guard base.loadUnaligned(fromByteOffset: entriesEnd, as: UInt32.self) == 0 else {
            throw SettError.corruption("block's first entry offset is not 0", file: nil, offset: Int64(entriesEnd))
        }
        firstKey = UnsafeRawBufferPointer(start: nil, count: 0)
        let e = try entry(0)
        guard e.overlap == 0 else {
            throw SettError.corruption("block's first entry shares a prefix", file: nil, offset: 0)
        }
        firstKey = e.diff
    }

    @inline(__always)
    func offset(_ i: Int) -> Int {
        Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: entriesEnd &+ 4 &* i, as: UInt32.self)))
    }

    /// Decodes entry i (0 <= i < count) with bounds checks.
    @inline(__always)
    func entry(_ i: Int) throws(SettError) -> BlockEntry {
        let start = offset(i)
        let end = i &+ 1 < count ? offset(i &+ 1) : entriesEnd
        guard end <= entriesEnd, start <= end &- 4 else { throw badEntry(i, at: start) }
        let overlap = Int(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: start, as: UInt16.self)))
        let diffLen = Int(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: start &+ 2, as: UInt16.self)))
        let valueStart = start &+ 4 &+ diffLen
        guard valueStart <= end, diffLen >= InternalKey.suffixSize, overlap <= firstKey.count || i == 0 else {
            throw badEntry(i, at: start)
        }
        return BlockEntry(overlap: overlap,
                          diff: UnsafeRawBufferPointer(start: base + start + 4, count: diffLen),
                          value: UnsafeRawBufferPointer(start: base + valueStart, count: end &- valueStart))
    }

    @inline(never)
    private func badEntry(_ i: Int, at: Int) -> SettError {
        SettError.corruption("malformed block entry \(i) of \(count)", file: nil, offset: Int64(at))
    }

    // MARK: comparisons

    @inline(__always)
    func target(_ key: UnsafeRawBufferPointer) -> BlockSeekTarget {
        let userCount = key.count &- InternalKey.suffixSize
        let limit = min(firstKey.count, userCount)
        let cp = commonPrefixLength(firstKey.baseAddress!, key.baseAddress!, limit)
        var sign = 0
        if cp < limit {
            sign = Int(firstKey.load(fromByteOffset: cp, as: UInt8.self)) - Int(key.load(fromByteOffset: cp, as: UInt8.self))
        }
        return BlockSeekTarget(key: key, userCount: userCount, commonPrefix: cp, firstSign: sign)
    }

    /// Three-way comparison of entry `e`'s key with the target key (InternalKey order).
    @inline(__always)
    func compare(_ e: BlockEntry, _ t: BlockSeekTarget) -> Int {
        let o = e.overlap
        let d = e.diff.count
        let eu = o &+ d &- InternalKey.suffixSize
        let m = min(eu, t.userCount)
        let a = min(o, m)
        if a > t.commonPrefix { return t.firstSign }
        if m > a {
            let c = memcmp(e.diff.baseAddress!, t.key.baseAddress! + a, m &- a)
            if c != 0 { return Int(c) }
        }
        if eu != t.userCount { return eu &- t.userCount }
        let x = UInt64(bigEndian: e.diff.loadUnaligned(fromByteOffset: d &- 8, as: UInt64.self))
        let y = UInt64(bigEndian: t.key.loadUnaligned(fromByteOffset: t.userCount, as: UInt64.self))
        return x < y ? -1 : (x > y ? 1 : 0)
    }

    /// True when entry `e` has the same user key as the target.
    @inline(__always)
    func sameUserKey(_ e: BlockEntry, _ t: BlockSeekTarget) -> Bool {
        let o = e.overlap
        let eu = o &+ e.diff.count &- InternalKey.suffixSize
        guard eu == t.userCount, min(o, eu) <= t.commonPrefix else { return false }
        let rest = eu &- o
        return rest <= 0 || memcmp(e.diff.baseAddress!, t.key.baseAddress! + o, rest) == 0
    }

    /// Index of the first entry with key >= target (`count` if none).
    @inline(__always)
    func lowerBound(_ t: BlockSeekTarget) throws(SettError) -> Int {
        var lo = 0
        var hi = count
        while lo < hi {
            let mid = (lo &+ hi) &>> 1
            if compare(try entry(mid), t) < 0 { lo = mid &+ 1 } else { hi = mid }
        }
        return lo
    }

    /// Index of the first entry with key > target (`count` if none).
    @inline(__always)
    func upperBound(_ t: BlockSeekTarget) throws(SettError) -> Int {
        var lo = 0
        var hi = count
        while lo < hi {
            let mid = (lo &+ hi) &>> 1
            if compare(try entry(mid), t) <= 0 { lo = mid &+ 1 } else { hi = mid }
        }
        return lo
    }

    /// The version of entry `e` (from its suffix).
    @inline(__always)
    static func version(_ e: BlockEntry) -> UInt64 {
        UInt64.max &- UInt64(bigEndian: e.diff.loadUnaligned(fromByteOffset: e.diff.count &- 8, as: UInt64.self))
    }

    /// Decodes a stored value (same rules as `ValueView.decode`, typed for the hot path).
    @inline(__always)
    static func decodeValue(_ raw: UnsafeRawBufferPointer) throws(SettError) -> ValueView {
        guard raw.count >= 3 else { throw badValue(raw.count) }
        let meta = raw[0]
        let userMeta = raw[1]
        var i = 2
        var expiresAt: UInt64 = 0
        var b = raw[2]
        if b < 0x80 {
            expiresAt = UInt64(b)
            i = 3
        } else {
            var shift: UInt64 = 0
            while true {
                guard i < raw.count, shift <= 63 else { throw badValue(raw.count) }
                b = raw[i]
                i &+= 1
                if shift == 63 && b > 1 { throw badValue(raw.count) }
                expiresAt |= UInt64(b & 0x7F) << shift
                if b < 0x80 { break }
                shift &+= 7
            }
        }
        let bytes = UnsafeRawBufferPointer(start: raw.baseAddress! + i, count: raw.count &- i)
        guard meta & ~EntryMeta.known == 0,
              meta & EntryMeta.valuePointer == 0 || bytes.count == ValuePointer.encodedSize else {
            throw badValue(raw.count)
        }
        return ValueView(meta: meta, userMeta: userMeta, expiresAt: expiresAt, bytes: bytes)
    }

    @inline(never)
    private static func badValue(_ n: Int) -> SettError {
        SettError.corruption("malformed value of \(n) bytes in block", file: nil, offset: nil)
    }
}

/// Length of the common prefix of a[0..<n] and b[0..<n], 8 bytes at a time.
@inline(__always)
func commonPrefixLength(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ n: Int) -> Int {
    var i = 0
    while i &+ 8 <= n {
        let x = a.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ b.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        if x != 0 { return i &+ (UInt64(littleEndian: x).trailingZeroBitCount &>> 3) }
        i &+= 8
    }
    while i < n && a.load(fromByteOffset: i, as: UInt8.self) == b.load(fromByteOffset: i, as: UInt8.self) { i &+= 1 }
    return i
}
