import Testing
@testable import Sett

@Suite struct BlockCacheTests {
    @Test func staysWithinCapacityAndEvictsLeastRecentlyUsed() {
        let blockBytes = 1000
        let charge = blockBytes + BlockCache.entryOverhead
        let capacity = BlockCache.shardCount * charge * 4
        let cache = BlockCache(capacityBytes: capacity)
        let n = 2000
        for i in 0 ..< n {
            cache.insert(.init(table: 1, block: UInt32(i)), DecodedBlock(count: blockBytes))
            #expect(cache.usedBytes <= capacity)
        }
        #expect(cache.count < n)
        #expect(cache.count >= BlockCache.shardCount * 2)
        #expect(cache.usedBytes == cache.count * charge)
        // The newest block is cached, the oldest evicted.
        #expect(cache.get(.init(table: 1, block: UInt32(n - 1))) != nil)
        #expect(cache.get(.init(table: 1, block: 0)) == nil)

        // LRU: a block touched between insertions survives a later block of its shard.
        let keep = BlockCache.Key(table: 2, block: 0)
        cache.insert(keep, DecodedBlock(count: blockBytes))
        for i in 0 ..< 400 {
            _ = cache.get(keep)
            cache.insert(.init(table: 3, block: UInt32(i)), DecodedBlock(count: blockBytes))
        }
        #expect(cache.get(keep) != nil)

        cache.removeAll(table: 3)
        #expect(cache.count <= BlockCache.shardCount * 4)
        #expect(cache.get(.init(table: 3, block: 399)) == nil)
    }

    @Test func oversizedBlocksAreNotCached() {
        let cache = BlockCache(capacityBytes: 16 * 1024)
        cache.insert(.init(table: 1, block: 0), DecodedBlock(count: 4096))
        #expect(cache.count == 0 && cache.usedBytes == 0)
        let zero = BlockCache(capacityBytes: 0)
        zero.insert(.init(table: 1, block: 0), DecodedBlock(count: 10))
        #expect(zero.count == 0)
    }

    @Test func concurrentUseKeepsTheBound() async {
        let capacity = 64 * 1024
        let cache = BlockCache(capacityBytes: capacity)
        await withTaskGroup(of: Void.self) { group in
            for t in 0 ..< 4 {
                group.addTask {
                    for i in 0 ..< 2000 {
                        let k = BlockCache.Key(table: UInt64(t), block: UInt32(i % 300))
                        if cache.get(k) == nil { cache.insert(k, DecodedBlock(count: 200 + i % 500)) }
                    }
                }
            }
        }
        #expect(cache.usedBytes <= capacity)
        #expect(cache.count > 0)
    }
}
