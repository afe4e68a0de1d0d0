import Testing
@testable import SettCLI

/// Keys and values as db_bench and the Badger peer (peers/badger/main.go) make them.
@Suite struct BenchKeyValueTests {
    static func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

    @Test func keySize16IsPercent016d() {
        #expect(Self.text(BenchKeys.make(0, size: 16)) == "0000000000000000")
        #expect(Self.text(BenchKeys.make(1_234_567, size: 16)) == "0000000001234567")
        #expect(Self.text(BenchKeys.make(999_999_999, size: 16)) == "0000000999999999")
    }

    @Test func otherKeySizesPadOrDropHighDigitsLikeMainGo() {
        #expect(Self.text(BenchKeys.make(42, size: 20)) == "00000000000000000042")
        #expect(Self.text(BenchKeys.make(42, size: 2)) == "42")
        #expect(Self.text(BenchKeys.make(7, size: 1)) == "7")
        #expect(Self.text(BenchKeys.make(12345, size: 4)) == "2345")  // makeKey fills from the right
    }

    @Test func keysSortInIndexOrder() {
        let keys = [0, 9, 10, 99, 100, 12_345, 1_000_000].map { BenchKeys.make($0, size: 16) }
        #expect(keys == keys.sorted { $0.lexicographicallyPrecedes($1) })
    }

    @Test func fillRewritesTheBufferInPlace() {
        var key = BenchKeys.make(123, size: 8)
        BenchKeys.fill(&key, 45)
        #expect(Self.text(key) == "00000045")
    }

    @Test func valueBufferIsPiecesOfFiftyPrintableBytesRepeatedTwice() {
        let g = ValueGenerator(valueSize: 100)
        #expect(g.data.count >= 1 << 20 && g.data.count % 100 == 0)
        #expect(g.data.allSatisfy { $0 >= 0x20 && $0 < 0x20 + 95 })
        for start in stride(from: 0, to: g.data.count, by: 100) {
            #expect(g.data[start ..< start + 50] == g.data[start + 50 ..< start + 100])
        }
        // Random within a piece: not one repeated byte.
        #expect(Set(g.data[0 ..< 50]).count > 20)
    }

    @Test func valuesAreDeterministicPerSeed() {
        #expect(ValueGenerator(valueSize: 100).data == ValueGenerator(valueSize: 100, seed: 301).data)
        #expect(ValueGenerator(valueSize: 100, seed: 1).data != ValueGenerator(valueSize: 100, seed: 2).data)
    }

    @Test func nextHandsOutConsecutiveWindowsAndWraps() {
        var g = ValueGenerator(valueSize: 300_000)
        let first = g.next()
        #expect(first.count == 300_000 && Array(first) == Array(g.data[0 ..< 300_000]))
        #expect(Array(g.next()) == Array(g.data[300_000 ..< 600_000]))
        #expect(Array(g.next()) == Array(g.data[600_000 ..< 900_000]))
        #expect(Array(g.next()) == Array(first))  // 900_000 + 300_000 > buffer: back to the start
    }

    @Test func valueLargerThanOneMiBStillFits() {
        var g = ValueGenerator(valueSize: 3 << 20)
        #expect(g.data.count >= 3 << 20)
        #expect(g.next().count == 3 << 20)
    }

    @Test func randomIndicesAreUniformAndInRange() {
        var r = BenchRandom(seed: 302)
        var buckets = [Int](repeating: 0, count: 10)
        for _ in 0 ..< 100_000 {
            let i = r.index(below: 10)
            #expect(i >= 0 && i < 10)
            buckets[i] += 1
        }
        #expect(buckets.allSatisfy { $0 > 9_500 && $0 < 10_500 })
        var a = BenchRandom(seed: 5), b = BenchRandom(seed: 5)
        #expect((0 ..< 8).map { _ in a.next() } == (0 ..< 8).map { _ in b.next() })
    }

    @Test func uniformRandomFillCoversAboutSixtyThreePercent() {
        // readrandom after fillrandom finds ~63% (1 - 1/e), as the README says.
        var r = BenchRandom(seed: 303)
        let n = 100_000
        var seen = [Bool](repeating: false, count: n)
        for _ in 0 ..< n { seen[r.index(below: n)] = true }
        let share = Double(seen.filter { $0 }.count) / Double(n)
        #expect(share > 0.62 && share < 0.64)
    }
}
