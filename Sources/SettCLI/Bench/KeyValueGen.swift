import Sett
/// Keys, values and random numbers for `sett bench`, as db_bench and the Badger peer
/// (shared/bench/peers/badger/main.go) make them. Value types; each thread owns its own.

/// Benchmark keys: a key index written as zero-padded decimal that fills the whole key,
/// like `%016d` for `key_size` 16. Digits beyond the key size are dropped (the high
/// ones), exactly as main.go's `makeKey`; `BenchCommand.config()` refuses key sizes too
/// small for `2 * num` indices.
enum BenchKeys {
    /// Writes `index` into all of `dst`.
    @inline(__always)
    static func write(_ index: Int, into dst: UnsafeMutableBufferPointer<UInt8>) {
        var v = UInt64(index)
        var i = dst.count - 1
        while i >= 0 {
            dst[i] = UInt8(truncatingIfNeeded: 0x30 &+ v % 10)
            v /= 10
            i -= 1
        }
    }

    /// Rewrites `key` in place (no allocation when `key` is uniquely referenced).
    @inline(__always)
    static func fill(_ key: inout [UInt8], _ index: Int) {
        key.withUnsafeMutableBufferPointer { write(index, into: $0) }
    }

    /// A new key of `size` bytes for `index`.
    static func make(_ index: Int, size: Int) -> [UInt8] {
        var k = [UInt8](repeating: 0, count: size)
        fill(&k, index)
        return k
    }
}

/// The bench's deterministic generator (SplitMix64).
struct BenchRandom: RandomNumberGenerator, Sendable {
    private var base: SplitMix64

    init(seed: UInt64) { base = SplitMix64(seed: seed) }

    @inline(__always)
    mutating func next() -> UInt64 { base.next() }

    /// Uniform in `0 ..< bound` (bound > 0), without modulo bias (Lemire's method).
    @inline(__always)
    mutating func below(_ bound: UInt64) -> UInt64 {
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return m.high
    }

    @inline(__always)
    mutating func index(below bound: Int) -> Int { Int(truncatingIfNeeded: below(UInt64(bound))) }
}

/// db_bench's value generator: a buffer of at least 1 MiB (or one value) made of 100-byte
/// pieces, each 50 random printable bytes followed by the same 50 again, so values
/// compress to about half. `next()` hands out consecutive `valueSize` windows, wrapping
/// to the start when the buffer runs out. Deterministic for a given seed (main.go seeds
/// it with the constant 301, not `--seed`; `sett bench` does the same).
struct ValueGenerator {
    static let defaultSeed: UInt64 = 301

    let data: [UInt8]
    let valueSize: Int
    private(set) var position = 0

    init(valueSize: Int, seed: UInt64 = ValueGenerator.defaultSeed) {
        self.valueSize = valueSize
        let n = max(1 << 20, valueSize)
        var rng = BenchRandom(seed: seed)
        var d: [UInt8] = []
        d.reserveCapacity(n + 100)
        var piece = [UInt8](repeating: 0, count: 50)
        while d.count < n {
            for i in 0 ..< 50 { piece[i] = 0x20 &+ UInt8(truncatingIfNeeded: rng.below(95)) }
            d.append(contentsOf: piece)
            d.append(contentsOf: piece)
        }
        data = d
    }

    /// The next value (a view of the shared buffer, no copy).
    @inline(__always)
    mutating func next() -> ArraySlice<UInt8> {
        if position + valueSize > data.count { position = 0 }
        position += valueSize
        return data[position - valueSize ..< position]
    }
}
