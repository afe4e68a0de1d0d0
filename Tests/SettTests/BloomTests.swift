import Testing
@testable import Sett

@Suite struct BloomTests {
    static func keys(_ n: Int, prefix: String) -> [[UInt8]] {
        (0 ..< n).map { Array("\(prefix)\($0)".utf8) }
    }

    static func falsePositiveRate(target: Double, n: Int) -> (rate: Double, falseNegatives: Int) {
        let present = keys(n, prefix: "key:")
        let bytes = BloomFilter.build(hashes: present.map { KeyHash.hash($0) }, falsePositive: target)
        return bytes.withUnsafeBytes { raw in
            let f = try! BloomFilter.parse(raw)
            let falseNegatives = present.filter { !f.mayContain(KeyHash.hash($0)) }.count
            let absent = keys(100_000, prefix: "other:")
            let hits = absent.filter { f.mayContain(KeyHash.hash($0)) }.count
            return (Double(hits) / Double(absent.count), falseNegatives)
        }
    }

    @Test(arguments: [0.1, 0.01, 0.001])
    func falsePositiveRateIsNearTargetWithoutFalseNegatives(_ target: Double) {
        let r = Self.falsePositiveRate(target: target, n: 20_000)
        #expect(r.falseNegatives == 0)
        #expect(r.rate <= target * 1.5, "rate \(r.rate) for target \(target)")
        #expect(r.rate >= target / 10, "rate \(r.rate) suspiciously low for target \(target) (filter oversized?)")
    }

    @Test func zeroTargetBuildsNoFilter() throws {
        #expect(BloomFilter.build(hashes: [1, 2, 3], falsePositive: 0).isEmpty)
        let f = try BloomFilter.parse(UnsafeRawBufferPointer(start: nil, count: 0))
        #expect(f.mayContain(12345))
    }

    @Test func keyHashIsStableAndSpreads() {
        // Every length 0...40 reads only its own bytes: hashing a slice of a bigger buffer
        // equals hashing a copy.
        let big = (0 ..< 64).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        for n in 0 ... 40 {
            let copy = Array(big[0 ..< n])
            let viaSlice = big.withUnsafeBytes { KeyHash.hash(UnsafeRawBufferPointer(rebasing: $0[0 ..< n])) }
            #expect(viaSlice == KeyHash.hash(copy))
        }
        // Single-bit changes flip about half of the output bits.
        var total = 0, count = 0
        for n in [1, 3, 7, 8, 9, 15, 16, 17, 31, 33] {
            let base = Array(big[0 ..< n])
            let h0 = KeyHash.hash(base)
            for bit in 0 ..< n * 8 {
                var m = base
                m[bit / 8] ^= 1 << UInt8(bit % 8)
                total += (KeyHash.hash(m) ^ h0).nonzeroBitCount
                count += 1
            }
        }
        let avg = Double(total) / Double(count)
        #expect(avg > 28 && avg < 36, "average flipped bits \(avg)")
        // Distinct short keys give distinct hashes.
        let hs = Set((0 ..< 50_000).map { KeyHash.hash(Array("k\($0)".utf8)) })
        #expect(hs.count == 50_000)
    }

    @Test func goldenKeyHashValues() {
        #expect(KeyHash.hash(Array("".utf8)) == BloomTests.goldenEmpty)
        #expect(KeyHash.hash(Array("hello".utf8)) == BloomTests.goldenHello)
        #expect(KeyHash.hash(Array("the quick brown fox jumps".utf8)) == BloomTests.goldenFox)
    }

    static let goldenEmpty: UInt64 = 9_052_656_229_694_790_494
    static let goldenHello: UInt64 = 4_363_434_303_923_672_654
    static let goldenFox: UInt64 = 8_911_824_960_906_421_609
}
