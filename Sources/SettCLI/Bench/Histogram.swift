/// A log-bucketed latency histogram in nanoseconds: recording is a few instructions and
/// no allocation, so every op can be recorded.
///
/// Buckets: values below 128 get one bucket each (exact). Above, each power of two
/// [2^h, 2^(h+1)) is split into 64 equal sub-buckets, so any recorded value is known to
/// within 1/64 (1.6%). Index for v >= 128: with h = the top bit of v and s = h - 6,
/// index = 64·s + (v >> s), which continues the exact range without gaps
/// (v = 128 → 128). 3,776 buckets cover all of UInt64.
///
/// Not thread-safe: one histogram per thread, `merge` them afterwards.
struct LatencyHistogram: Sendable {
    static let exactLimit: UInt64 = 128
    static let bucketCount = 64 * 57 + 128

    private(set) var counts: [UInt64]
    private(set) var count: UInt64 = 0
    private(set) var sum: UInt64 = 0
    private(set) var min: UInt64 = .max
    private(set) var max: UInt64 = 0

    init() { counts = [UInt64](repeating: 0, count: Self.bucketCount) }

    @inline(__always)
    static func bucket(of v: UInt64) -> Int {
        if v < exactLimit { return Int(v) }
        let s = 63 - v.leadingZeroBitCount - 6
        return 64 * s + Int(v >> UInt64(s))
    }

    /// The smallest and largest value that land in bucket `i`.
    static func bounds(of i: Int) -> ClosedRange<UInt64> {
        if i < Int(exactLimit) { return UInt64(i) ... UInt64(i) }
        let s = i / 64 - 1
        let low = UInt64(i - 64 * s) << UInt64(s)
        return low ... low + ((1 << UInt64(s)) - 1)
    }

    @inline(__always)
    mutating func record(_ nanos: UInt64) {
        counts.withUnsafeMutableBufferPointer { $0[Self.bucket(of: nanos)] &+= 1 }
        count &+= 1
        sum &+= nanos
        if nanos < min { min = nanos }
        if nanos > max { max = nanos }
    }

    mutating func merge(_ other: LatencyHistogram) {
        for i in 0 ..< counts.count { counts[i] &+= other.counts[i] }
        count &+= other.count
        sum &+= other.sum
        min = Swift.min(min, other.min)
        max = Swift.max(max, other.max)
    }

    /// The value at quantile `q` (0...1), using the same rank as the Badger peer:
    /// the element at index ⌊q·(n−1)⌋ of the sorted samples. Exact below 128 ns;
    /// otherwise the middle of that sample's bucket, clamped to the recorded min/max.
    /// 0 when empty.
    func percentile(_ q: Double) -> UInt64 {
        if count == 0 { return 0 }
        let qq = Swift.min(Swift.max(q, 0), 1)
        let rank = UInt64(qq * Double(count - 1))  // 0-based
        var seen: UInt64 = 0
        for i in 0 ..< counts.count where counts[i] != 0 {
            seen += counts[i]
            if seen > rank {
                let b = Self.bounds(of: i)
                let mid = b.lowerBound + (b.upperBound - b.lowerBound) / 2
                return Swift.min(Swift.max(mid, min), max)
            }
        }
        return max
    }

    /// `percentile(q)` in microseconds.
    func percentileMicros(_ q: Double) -> Double { Double(percentile(q)) / 1000 }

    var meanMicros: Double { count == 0 ? 0 : Double(sum) / Double(count) / 1000 }
}
