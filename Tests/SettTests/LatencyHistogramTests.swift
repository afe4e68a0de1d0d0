import Testing
@testable import SettCLI

@Suite struct LatencyHistogramTests {
    @Test func smallValuesAreExactWithTheSameRankAsThePeer() {
        var h = LatencyHistogram()
        for v in (1 ... 100).reversed() { h.record(UInt64(v)) }
        // sorted[floor(q * (n - 1))]
        #expect(h.percentile(0.50) == 50)
        #expect(h.percentile(0.99) == 99)
        #expect(h.percentile(0) == 1)
        #expect(h.percentile(1) == 100)
        #expect(h.count == 100 && h.min == 1 && h.max == 100 && h.sum == 5050)
    }

    @Test func emptyHistogramReportsZero() {
        #expect(LatencyHistogram().percentile(0.99) == 0)
        #expect(LatencyHistogram().percentileMicros(0.5) == 0)
    }

    @Test func everyValueLiesInItsBucketAndBucketsAreOrdered() {
        var values: [UInt64] = Array(0 ... 1000)
        for shift in 7 ..< 64 {
            let p = UInt64(1) << UInt64(shift)
            values += [p - 1, p, p + 1, p + p / 3]
        }
        values.append(.max)
        var last = -1
        for v in values.sorted() {
            let b = LatencyHistogram.bucket(of: v)
            #expect(b >= last && b < LatencyHistogram.bucketCount, "\(v)")
            #expect(LatencyHistogram.bounds(of: b).contains(v), "\(v)")
            last = b
        }
        #expect(LatencyHistogram.bucket(of: 127) == 127 && LatencyHistogram.bucket(of: 128) == 128)
        #expect(LatencyHistogram.bucket(of: .max) == LatencyHistogram.bucketCount - 1)
    }

    @Test func largeValuesAreWithinOneSixtyFourth() {
        var h = LatencyHistogram()
        for us in 1 ... 10_000 { h.record(UInt64(us) * 1000) }  // 1 µs ... 10 ms
        let p50 = Double(h.percentile(0.50)), p99 = Double(h.percentile(0.99))
        #expect(abs(p50 - 5_000_000) / 5_000_000 < 1.0 / 64)
        #expect(abs(p99 - 9_900_000) / 9_900_000 < 1.0 / 64)
        #expect(abs(h.percentileMicros(0.99) - 9900) < 9900.0 / 64)
    }

    @Test func tailPercentileSeesTheSlowOps() {
        var h = LatencyHistogram()
        for _ in 0 ..< 98 { h.record(10_000) }  // 10 µs
        h.record(5_000_000)
        h.record(5_000_000)  // two 5 ms stalls
        #expect(abs(Double(h.percentile(0.50)) - 10_000) < 10_000.0 / 64)
        #expect(h.percentile(0.99) == 5_000_000)  // clamped to max
    }

    @Test func mergeEqualsRecordingEverythingInOne() {
        var a = LatencyHistogram(), b = LatencyHistogram(), all = LatencyHistogram()
        var r = BenchRandom(seed: 9)
        for i in 0 ..< 5000 {
            let v = r.below(50_000_000)
            if i % 3 == 0 { a.record(v) } else { b.record(v) }
            all.record(v)
        }
        a.merge(b)
        #expect(a.counts == all.counts && a.count == all.count && a.sum == all.sum)
        #expect(a.min == all.min && a.max == all.max)
        for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] { #expect(a.percentile(q) == all.percentile(q)) }
    }
}
