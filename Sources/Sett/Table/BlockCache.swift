import Synchronization

/// A byte-bounded cache of decompressed table blocks, keyed by (table id, block index).
///
/// Thread safety: fully thread-safe. 16 shards, each an LRU list behind its own `Mutex`;
/// a key's shard is picked from a hash of the key, so unrelated lookups rarely contend.
/// Invariants: each shard holds at most `capacityBytes / 16` bytes of charge (a block's
/// charge is its buffer size plus a fixed overhead); a block bigger than a shard's share
/// is not cached. Cached blocks stay alive while a reader holds them even after eviction.
/// Table ids are never reused, so entries of deleted tables simply age out
/// (or are dropped early with `removeAll(table:)`).
final class BlockCache: @unchecked Sendable {
    struct Key: Hashable, Sendable {
        var table: UInt64
        var block: UInt32
    }

    /// Bookkeeping bytes charged per cached block besides its buffer.
    static let entryOverhead = 96
    static let shardCount = 16

    let capacityBytes: Int
    private let shards: [Shard]

    init(capacityBytes: Int) {
        self.capacityBytes = max(0, capacityBytes)
        let per = self.capacityBytes / BlockCache.shardCount
        shards = (0 ..< BlockCache.shardCount).map { _ in Shard(capacity: per) }
    }

    @inline(__always)
    private func shard(_ k: Key) -> Shard {
        var h = k.table &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(k.block) &* 0xC2B2_AE3D_27D4_EB4F
        h ^= h >> 29
        return shards[Int(truncatingIfNeeded: h & UInt64(BlockCache.shardCount - 1))]
    }

    func get(_ k: Key) -> DecodedBlock? { shard(k).get(k) }

    /// Caches `block` under `k` (replacing any older entry), evicting least recently used
    /// blocks of the shard to stay within capacity.
    func insert(_ k: Key, _ block: DecodedBlock) {
        shard(k).insert(k, block, charge: block.buffer.count + BlockCache.entryOverhead)
    }

    /// Bytes of charge currently held.
    var usedBytes: Int { shards.reduce(0) { $0 + $1.used } }
    /// Blocks currently held.
    var count: Int { shards.reduce(0) { $0 + $1.count } }

    /// Drops every cached block of `table` (e.g. after the table is deleted).
    func removeAll(table: UInt64) {
        for s in shards { s.removeAll { $0.table == table } }
    }
}

/// One LRU shard: a dictionary from key to node slot, nodes in an array with an
/// intrusive doubly linked list (most recent at head) and a free list.
private final class Shard: @unchecked Sendable {
    private struct Node {
        var key: BlockCache.Key
        var block: DecodedBlock?
        var charge: Int
        var prev: Int32
        var next: Int32
    }

    private struct State {
        var map: [BlockCache.Key: Int32] = [:]
        var nodes: [Node] = []
        var free: [Int32] = []
        var head: Int32 = -1
        var tail: Int32 = -1
        var used = 0

        mutating func unlink(_ i: Int32) {
            let p = nodes[Int(i)].prev
            let n = nodes[Int(i)].next
            if p >= 0 { nodes[Int(p)].next = n } else { head = n }
            if n >= 0 { nodes[Int(n)].prev = p } else { tail = p }
        }

        mutating func pushFront(_ i: Int32) {
            nodes[Int(i)].prev = -1
            nodes[Int(i)].next = head
            if head >= 0 { nodes[Int(head)].prev = i }
            head = i
            if tail < 0 { tail = i }
        }

        /// Removes node i and returns its block (released by the caller outside the lock).
        mutating func remove(_ i: Int32) -> DecodedBlock? {
            unlink(i)
            map.removeValue(forKey: nodes[Int(i)].key)
            used -= nodes[Int(i)].charge
            let b = nodes[Int(i)].block
            nodes[Int(i)].block = nil
            free.append(i)
            return b
        }
    }

    private let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) { self.capacity = capacity }

    var used: Int { state.withLock { $0.used } }
    var count: Int { state.withLock { $0.map.count } }

    func get(_ k: BlockCache.Key) -> DecodedBlock? {
        state.withLock { s -> DecodedBlock? in
            guard let i = s.map[k] else { return nil }
            if s.head != i {
                s.unlink(i)
                s.pushFront(i)
            }
            return s.nodes[Int(i)].block
        }
    }

    func insert(_ k: BlockCache.Key, _ block: DecodedBlock, charge: Int) {
        guard charge <= capacity else { return }
        // Evicted blocks are released after the lock is dropped (their deinit frees memory).
        var evicted: [DecodedBlock] = []
        state.withLock { s in
            if let old = s.map[k], let b = s.remove(old) { evicted.append(b) }
            while s.used + charge > capacity, s.tail >= 0 {
                if let b = s.remove(s.tail) { evicted.append(b) }
            }
            let node = Node(key: k, block: block, charge: charge, prev: -1, next: -1)
            let i: Int32
            if let f = s.free.popLast() {
                i = f
                s.nodes[Int(i)] = node
            } else {
                i = Int32(s.nodes.count)
                s.nodes.append(node)
            }
            s.pushFront(i)
            s.map[k] = i
            s.used += charge
        }
        _ = evicted
    }

    func removeAll(where match: (BlockCache.Key) -> Bool) {
        var evicted: [DecodedBlock] = []
        state.withLock { s in
            let victims = s.map.filter { match($0.key) }.map(\.value)
            for i in victims { if let b = s.remove(i) { evicted.append(b) } }
        }
        _ = evicted
    }
}
