import Foundation
import Synchronization
import Testing
@testable import Sett

/// Deterministic PRNG for reproducible tests.
func SkiplistTestRNG(seed: UInt64) -> SplitMix64 { SplitMix64(seed: seed &+ 0x9E37_79B9_7F4A_7C15) }

private func put(_ list: Skiplist, _ ikey: [UInt8], _ value: [UInt8], meta: UInt8 = 0) -> Bool {
    ikey.withUnsafeBytes { k in
        value.withUnsafeBytes { v in
            list.put(key: k, value: ValueView(meta: meta, userMeta: 7, expiresAt: 42, bytes: v))
        }
    }
}

private func ikeyCompare(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in InternalKey.compare(pa, pb) < 0 } }
}

/// Collects (key, value) pairs by walking forward from the first entry.
private func forward(_ it: SkiplistIterator) -> [([UInt8], [UInt8])] {
    var out: [([UInt8], [UInt8])] = []
    it.seekToFirst()
    while it.valid {
        out.append((Array(it.key), Array(it.value.bytes)))
        it.next()
    }
    return out
}

@Suite struct SkiplistTests {
    @Test func skiplistOrderingAndVersions() throws {
        var rng = SkiplistTestRNG(seed: 1)
        let list = Skiplist(arenaSize: 4 << 20)
        var reference: [[UInt8]: [UInt8]] = [:]
        for i in 0 ..< 3000 {
            let userKey = (0 ..< Int.random(in: 0 ... 6, using: &rng)).map { _ in UInt8.random(in: 0 ... 4, using: &rng) }
            let version = UInt64.random(in: 1 ... 5, using: &rng)
            let ikey = InternalKey.make(userKey, version: version)
            let value = Array("v\(i)".utf8)
            #expect(put(list, ikey, value))
            reference[ikey] = value  // same internal key: replaced
        }
        let sorted = reference.keys.sorted(by: ikeyCompare)
        #expect(list.count == sorted.count)

        let it = list.makeIterator()
        let fwd = forward(it)
        #expect(fwd.map(\.0) == sorted)
        #expect(fwd.allSatisfy { reference[$0.0] == $0.1 })
        it.seekToFirst()
        #expect(it.value.userMeta == 7 && it.value.expiresAt == 42)

        // Backward.
        var back: [[UInt8]] = []
        it.seekToLast()
        while it.valid {
            back.append(Array(it.key))
            it.prev()
        }
        #expect(back == sorted.reversed())

        // Seek and seekForPrev against the reference, for present and absent keys.
        for _ in 0 ..< 500 {
            let userKey = (0 ..< Int.random(in: 0 ... 6, using: &rng)).map { _ in UInt8.random(in: 0 ... 4, using: &rng) }
            let probe = InternalKey.make(userKey, version: UInt64.random(in: 0 ... 6, using: &rng))
            let ge = sorted.first { !ikeyCompare($0, probe) }
            let le = sorted.last { !ikeyCompare(probe, $0) }
            probe.withUnsafeBytes { p in
                it.seek(p)
                #expect((it.valid ? Array(it.key) : nil) == ge)
                it.seekForPrev(p)
                #expect((it.valid ? Array(it.key) : nil) == le)
                let direct = list.seek(p)
                #expect(direct.map { Array($0.key) } == ge)
                if let ge { #expect(direct.map { Array($0.value.bytes) } == reference[ge]) }
            }
        }

        // Newest version <= T of one user key.
        let k: [UInt8] = [9, 9]
        for v: UInt64 in [10, 20, 30] { #expect(put(list, InternalKey.make(k, version: v), Array("at\(v)".utf8))) }
        InternalKey.make(k, version: 25).withUnsafeBytes { p in
            let hit = list.seek(p)
            #expect(hit.map { InternalKey.version($0.key) } == 20)
        }
    }

    @Test func emptySkiplistIteratorIsInvalid() {
        let list = Skiplist(arenaSize: 1 << 12)
        let it = list.makeIterator()
        it.seekToFirst(); #expect(!it.valid)
        it.seekToLast(); #expect(!it.valid)
        [UInt8](repeating: 0, count: 8).withUnsafeBytes { p in
            it.seek(p); #expect(!it.valid)
            it.seekForPrev(p); #expect(!it.valid)
            #expect(list.seek(p) == nil)
        }
        #expect(list.count == 0)
    }

    @Test func replacedValueIsSeenWhole() {
        let list = Skiplist(arenaSize: 1 << 14)
        let k = InternalKey.make([1, 2, 3], version: 5)
        #expect(put(list, k, Array("old".utf8)))
        let before = list.memoryUsed
        #expect(put(list, k, Array("newer value".utf8), meta: EntryMeta.delete))
        #expect(list.count == 1)
        #expect(list.memoryUsed > before)
        k.withUnsafeBytes { p in
            let hit = list.seek(p)
            #expect(hit.map { Array($0.value.bytes) } == Array("newer value".utf8))
            #expect(hit?.value.isDeleted == true)
        }
    }

    @Test func arenaFullReturnsFalseAndLeavesListIntact() {
        let list = Skiplist(arenaSize: 4096)
        var inserted: [[UInt8]] = []
        var i = 0
        while true {
            let k = InternalKey.make(Array("key\(i)".utf8), version: 1)
            let usedBefore = list.memoryUsed
            if !put(list, k, [UInt8](repeating: UInt8(i & 0xFF), count: 40)) {
                #expect(list.memoryUsed == usedBefore)
                break
            }
            inserted.append(k)
            i += 1
        }
        #expect(inserted.count > 10)
        #expect(list.memoryUsed <= list.capacity)
        // The estimate is an upper bound: whatever is left is less than one estimate.
        #expect(list.capacity - list.memoryUsed < Skiplist.nodeSizeEstimate(keyCount: 13, valueEncodedSize: 43))
        // A replacement that does not fit fails too and keeps the old value.
        let big = [UInt8](repeating: 1, count: 4096)
        #expect(!put(list, inserted[0], big))
        let it = list.makeIterator()
        let all = forward(it)
        #expect(all.map(\.0) == inserted.sorted(by: ikeyCompare))
        #expect(all.allSatisfy { $0.1.count == 40 })
        #expect(list.count == inserted.count)
    }

    @Test func skiplistUnderConcurrentReadersAndOneWriter() throws {
        let total = 20000
        var rng = SkiplistTestRNG(seed: 7)
        // Distinct keys in random order.
        let keys: [[UInt8]] = (0 ..< total).shuffled(using: &rng).map { i in
            InternalKey.make(Array("k\(i * 7919 % 100_003)".utf8), version: UInt64(1 + i % 3))
        }
        let list = Skiplist(arenaSize: 16 << 20)
        final class Shared: @unchecked Sendable {
            let published = Atomic<Int>(0)
            let started = Atomic<Int>(0)
            let overlapping = Atomic<Int>(0)
            let done = Atomic<Bool>(false)
            let failures = Mutex<[String]>([])
            func fail(_ s: String) { failures.withLock { $0.append(s) } }
        }
        let shared = Shared()
        let group = DispatchGroup()
        let readers = 3
        for r in 0 ..< readers {
            group.enter()
            let t = Thread {
                defer { group.leave() }
                var rng = SkiplistTestRNG(seed: UInt64(100 + r))
                var rounds = 0
                shared.started.add(1, ordering: .releasing)
                while !shared.done.load(ordering: .acquiring) || rounds < 2 {
                    rounds += 1
                    let known = shared.published.load(ordering: .acquiring)
                    if known < total { shared.overlapping.add(1, ordering: .relaxed) }
                    // A full scan: sorted, and containing every key published before it began.
                    let it = list.makeIterator()
                    var seen = Set<[UInt8]>()
                    var prev: [UInt8]? = nil
                    it.seekToFirst()
                    while it.valid {
                        let k = Array(it.key)
                        if let p = prev, !ikeyCompare(p, k) { shared.fail("order: \(p) !< \(k)"); return }
                        if it.value.bytes.count != 8 || Array(it.value.bytes) != Array(k.suffix(8)) {
                            shared.fail("value of \(k) torn"); return
                        }
                        seen.insert(k)
                        prev = k
                        it.next()
                    }
                    for j in 0 ..< known where !seen.contains(keys[j]) {
                        shared.fail("reader \(r) missed key \(j) of \(known)"); return
                    }
                    // Point seeks of published keys, and backward steps.
                    let known2 = shared.published.load(ordering: .acquiring)
                    for _ in 0 ..< 200 where known2 > 0 {
                        let j = Int.random(in: 0 ..< known2, using: &rng)
                        keys[j].withUnsafeBytes { p in
                            it.seek(p)
                            if !it.valid || Array(it.key) != keys[j] { shared.fail("seek missed \(j)") }
                            it.prev()
                            if it.valid && !ikeyCompare(Array(it.key), keys[j]) { shared.fail("prev not smaller") }
                            it.seekForPrev(p)
                            if !it.valid || Array(it.key) != keys[j] { shared.fail("seekForPrev missed \(j)") }
                        }
                    }
                }
            }
            t.start()
        }
        // Start writing only when every reader runs, so reads overlap the writes.
        while shared.started.load(ordering: .acquiring) < readers { Thread.sleep(forTimeInterval: 0.001) }
        for (j, k) in keys.enumerated() {
            let ok = k.withUnsafeBytes { p in
                list.put(key: p, value: ValueView(meta: 0, userMeta: 0, expiresAt: 0,
                                                  bytes: UnsafeRawBufferPointer(rebasing: p[(p.count - 8)...])))
            }
            if !ok { shared.fail("arena full at \(j)"); break }
            shared.published.store(j + 1, ordering: .releasing)
        }
        shared.done.store(true, ordering: .releasing)
        group.wait()
        let failures = shared.failures.withLock { $0 }
        #expect(failures.isEmpty, "\(failures.prefix(5))")
        #expect(list.count == total)
        #expect(shared.overlapping.load(ordering: .relaxed) > 0)
    }
}
