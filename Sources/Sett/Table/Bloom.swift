#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The 64-bit hash of user keys that bloom filters (and callers probing several tables
/// for one key) share: compute it once per lookup, pass it to every table.
///
/// Reads 16 bytes per round and folds each pair of 64-bit words into the state with a
/// full 64x64->128-bit multiply (xor of both halves), which mixes every input bit into
/// the whole state; tails of 1...15 bytes are read with overlapping loads, never past
/// the end. The hash is persisted indirectly (bloom bits): DO NOT CHANGE the algorithm
/// or its constants.
enum KeyHash {
    // Odd 64-bit constants (fractional parts of cube roots of the first primes).
    private static let c0: UInt64 = 0x428a_2f98_d728_ae22
    private static let c1: UInt64 = 0x7137_4491_23ef_65cd
    private static let c2: UInt64 = 0xb5c0_fbcf_ec4d_3b2f
    private static let c3: UInt64 = 0xe9b5_dba5_8189_dbbc

    @inline(__always)
    private static func fold(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let r = a.multipliedFullWidth(by: b)
        return r.high ^ r.low
    }

    @inline(__always)
    private static func load64(_ p: UnsafeRawPointer, _ i: Int) -> UInt64 {
        UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self))
    }

    @inline(__always)
    private static func load32(_ p: UnsafeRawPointer, _ i: Int) -> UInt64 {
        UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
    }

    /// 0...7 bytes at p[i...] packed into a word (overlapping loads; length is mixed in elsewhere).
    @inline(__always)
    private static func loadTail(_ p: UnsafeRawPointer, _ i: Int, _ r: Int) -> UInt64 {
        if r >= 4 { return (load32(p, i) << 32) | load32(p, i + r - 4) }
        if r > 0 {
            let b0 = UInt64(p.load(fromByteOffset: i, as: UInt8.self))
            let b1 = UInt64(p.load(fromByteOffset: i + (r >> 1), as: UInt8.self))
            let b2 = UInt64(p.load(fromByteOffset: i + r - 1, as: UInt8.self))
            return (b0 << 16) | (b1 << 8) | b2
        }
        return 0
    }

    @inline(__always)
    static func hash(_ key: UnsafeRawBufferPointer) -> UInt64 {
        let n = key.count
        var h = c0 ^ (UInt64(truncatingIfNeeded: n) &* c1)
        guard let p = key.baseAddress, n > 0 else { return fold(h ^ c2, c3) }
        var i = 0
        while n &- i >= 16 {
            h = fold(load64(p, i) ^ c1, load64(p, i &+ 8) ^ h) ^ h
            i &+= 16
        }
        let r = n &- i
        let a: UInt64
        let b: UInt64
        if r >= 8 {
            a = load64(p, i)
            b = loadTail(p, i &+ 8, r &- 8)
        } else {
            a = loadTail(p, i, r)
            b = 0
        }
        h = fold(a ^ c2, b ^ h ^ c3)
        return fold(h ^ c0, UInt64(truncatingIfNeeded: n) ^ c1)
    }

    static func hash(_ key: [UInt8]) -> UInt64 { key.withUnsafeBytes { hash($0) } }
}

/// A cache-line-blocked bloom filter (grammar in Format/TableFormat.swift): every probe
/// of a key falls in one 64-byte line, so a lookup costs at most one cache miss.
///
/// A `BloomFilter` borrows its bytes (from the table's mapping); the owner keeps them alive.
/// Immutable; safe to share between threads.
struct BloomFilter: @unchecked Sendable {
    static let lineBytes = 64
    static let headerSize = 6
    static let probeMultiplier: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// nil: no filter, every key may be present.
    let lines: UnsafeRawPointer?
    let lineCount: UInt64
    let probes: Int

    static let none = BloomFilter(lines: nil, lineCount: 0, probes: 0)

    @inline(__always)
    func mayContain(_ h: UInt64) -> Bool {
        guard let lines else { return true }
        let line = lines + Int((UInt64(UInt32(truncatingIfNeeded: h)) &* lineCount) &>> 32) &* BloomFilter.lineBytes
        var g = h
        for _ in 0 ..< probes {
            g = g &* BloomFilter.probeMultiplier
            let bit = Int(truncatingIfNeeded: g &>> 55)
            if line.load(fromByteOffset: bit &>> 3, as: UInt8.self) & (1 << UInt8(bit & 7)) == 0 { return false }
        }
        return true
    }

    /// Parses a bloom section (checksum already verified). Empty bytes: no filter.
    static func parse(_ raw: UnsafeRawBufferPointer) throws -> BloomFilter {
        if raw.isEmpty { return .none }
        var r = ByteReader(raw)
        let kind = try r.u8()
        let probes = Int(try r.u8())
        let lineCount = Int(try r.u32())
        guard kind == TableFormat.bloomKindBlocked512 else {
            throw SettError.corruption("unknown bloom filter kind \(kind)", file: nil, offset: 0)
        }
        guard probes >= 1, probes <= 64, lineCount >= 1, lineCount * lineBytes == r.remaining else {
            throw SettError.corruption("bloom filter with \(probes) probes and \(lineCount) lines in \(raw.count) bytes",
                                       file: nil, offset: 1)
        }
        return BloomFilter(lines: raw.baseAddress! + headerSize, lineCount: UInt64(lineCount), probes: probes)
    }

    /// Bits per key for a target false-positive rate (0 = no filter). Blocking into cache
    /// lines costs some accuracy against a classic filter; the extra ~10% of bits pays it back.
    static func bitsPerKey(falsePositive p: Double) -> Double {
        guard p > 0, p < 1 else { return 0 }
        return -log(p) / (M_LN2 * M_LN2) * 1.1
    }

    /// Builds the bloom section for the given user-key hashes (duplicates allowed).
    static func build(hashes: [UInt64], falsePositive p: Double) -> [UInt8] {
        let bpk = bitsPerKey(falsePositive: p)
        guard bpk > 0, !hashes.isEmpty else { return [] }
        let probes = max(1, min(24, Int((bpk / 1.1 * M_LN2).rounded())))
        let bits = Double(hashes.count) * bpk
        let lineCount = max(1, Int((bits / Double(lineBytes * 8)).rounded(.up)))
        var out = [UInt8](repeating: 0, count: headerSize + lineCount * lineBytes)
        out[0] = TableFormat.bloomKindBlocked512
        out[1] = UInt8(probes)
        withUnsafeBytes(of: UInt32(lineCount).littleEndian) { for i in 0 ..< 4 { out[2 + i] = $0[i] } }
        out.withUnsafeMutableBytes { buf in
            let base = buf.baseAddress! + headerSize
            for h in hashes {
                let line = base + Int((UInt64(UInt32(truncatingIfNeeded: h)) &* UInt64(lineCount)) &>> 32) * lineBytes
                var g = h
                for _ in 0 ..< probes {
                    g = g &* probeMultiplier
                    let bit = Int(truncatingIfNeeded: g &>> 55)
                    let p = line + (bit &>> 3)
                    p.storeBytes(of: p.load(as: UInt8.self) | (1 << UInt8(bit & 7)), as: UInt8.self)
                }
            }
        }
        return out
    }
}
