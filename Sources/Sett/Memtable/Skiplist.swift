import Atomics

/// A skiplist of internal keys (ordered by `InternalKey.compare`) living entirely in
/// one `Arena`. Nodes are addressed by `UInt32` arena offsets; 0 is nil.
///
/// Thread safety: one writer thread calls `put`; any number of threads read (`seek`,
/// iterators, `count`, `memoryUsed`) at the same time without locks. A node is fully
/// written before it is linked with a releasing store, and readers follow links with
/// acquiring loads, so a reader never sees a half-built node. A value replacement
/// publishes a new (offset, size) pair with one 64-bit atomic store, so readers see
/// the old or the new value, never a mix.
///
/// Invariants: level-0 links form the complete list in strictly increasing key order;
/// the list at level i is a sublist of level i-1; nothing is ever unlinked or freed
/// until the skiplist is released, so borrowed keys and values stay valid while it lives.
///
/// Node layout (in memory only, never persisted), 8-byte aligned:
///
///     node  := value u64 | keySize u32 | height u32 | tower u32 × height | key | value bytes
///     value := atomic (valueOffset << 32 | valueSize): the encoded `ValueView`
///              (meta | userMeta | expiresAt uvarint | bytes) at valueOffset in the arena
///     tower := atomic next-node offset per level, level 0 first
///
/// The head node has `maxHeight` levels and an empty key. A replaced value is written
/// to fresh arena bytes; the old bytes stay (readers may still hold them).
final class Skiplist: @unchecked Sendable {
    static let maxHeight = 16
    /// Bytes of a node before its tower.
    static let nodeHeaderSize = 16

    let arena: Arena
    /// `arena.base`, cached for the hot paths.
    let base: UnsafeMutableRawPointer
    let head: UInt32
    private let heightAtomic: UnsafeAtomic<Int>
    private let countAtomic: UnsafeAtomic<Int>
    /// Writer-only scratch: predecessor per level found by the last search.
    private let prevScratch: UnsafeMutablePointer<UInt32>
    /// Writer-only PRNG state (xorshift64*).
    private var rng: UInt64

    init(arenaSize: Int) {
        arena = Arena(size: arenaSize)
        base = arena.base
        heightAtomic = .create(1)
        countAtomic = .create(0)
        prevScratch = .allocate(capacity: Skiplist.maxHeight)
        prevScratch.initialize(repeating: 0, count: Skiplist.maxHeight)
        rng = 0x9E37_79B9_7F4A_7C15 ^ UInt64(UInt(bitPattern: ObjectIdentifier(arena).hashValue))
        if rng == 0 { rng = 1 }
        let size = Skiplist.nodeHeaderSize + 4 * Skiplist.maxHeight
        let h = arena.allocate(size, alignment: 8)
        precondition(h != 0, "arena too small for the skiplist head")
        head = h
        initNode(h, height: Skiplist.maxHeight, keySize: 0, packedValue: 0)
        for i in 0 ..< Skiplist.maxHeight { link(h, i).store(0, ordering: .relaxed) }
    }

    deinit {
        _ = heightAtomic.destroy()
        _ = countAtomic.destroy()
        prevScratch.deallocate()
    }

    // MARK: - Public surface

    var memoryUsed: Int { arena.used }
    var capacity: Int { arena.capacity }
    var count: Int { countAtomic.load(ordering: .relaxed) }

    /// Conservative upper bound of the arena bytes one `put` of an internal key of
    /// `keyCount` bytes (user key + 8) with an encoded value of `valueEncodedSize` bytes
    /// can take. Includes 8 bytes of slack, so passing the user-key length is safe too.
    @inline(__always)
    static func nodeSizeEstimate(keyCount: Int, valueEncodedSize: Int) -> Int {
        nodeHeaderSize + 4 * maxHeight + keyCount + 8 + valueEncodedSize + 7
    }

    /// Single writer only. Copies the internal key `key` (at least 8 bytes) and the
    /// encoded value into the arena. If the identical internal key is present its value
    /// is replaced atomically. Returns false, changing nothing, if the arena lacks room.
    @discardableResult
    func put(key: UnsafeRawBufferPointer, value: ValueView) -> Bool {
        precondition(key.count >= InternalKey.suffixSize, "internal key shorter than its version suffix")
        return put(Probe(internalKey: key), value: value)
    }

    /// Single writer only. As `put(key:value:)`, with the internal key given as user
    /// key and version (saves building it).
    @discardableResult
    func put(userKey: UnsafeRawBufferPointer, version: UInt64, value: ValueView) -> Bool {
        put(Probe(userKey: userKey, version: version), value: value)
    }

    /// First entry with internal key >= `seekKey`, borrowed (valid while the skiplist lives).
    /// A seek key shorter than 8 bytes is taken as a bare user key (before all its versions).
    func seek(_ seekKey: UnsafeRawBufferPointer) -> (key: UnsafeRawBufferPointer, value: ValueView)? {
        let n = findGreaterOrEqual(Probe(seekKey: seekKey))
        if n == 0 { return nil }
        return (key(n), value(n))
    }

    func makeIterator() -> SkiplistIterator { SkiplistIterator(self) }

    // MARK: - Node access

    @inline(__always)
    func link(_ node: UInt32, _ level: Int) -> UnsafeAtomic<UInt32> {
        let p = base + Int(node) + Skiplist.nodeHeaderSize + 4 * level
        return UnsafeAtomic(at: p.assumingMemoryBound(to: UInt32.AtomicRepresentation.self))
    }

    @inline(__always)
    func next(_ node: UInt32, _ level: Int) -> UInt32 {
        link(node, level).load(ordering: .acquiring)
    }

    @inline(__always)
    private func valueSlot(_ node: UInt32) -> UnsafeAtomic<UInt64> {
        UnsafeAtomic(at: (base + Int(node)).assumingMemoryBound(to: UInt64.AtomicRepresentation.self))
    }

    /// The node's internal key, borrowed from the arena.
    @inline(__always)
    func key(_ node: UInt32) -> UnsafeRawBufferPointer {
        let p = base + Int(node)
        let keySize = Int(p.load(fromByteOffset: 8, as: UInt32.self))
        let height = Int(p.load(fromByteOffset: 12, as: UInt32.self))
        return UnsafeRawBufferPointer(start: p + Skiplist.nodeHeaderSize + 4 * height, count: keySize)
    }

    /// The node's current value, decoded from arena bytes the writer encoded.
    @inline(__always)
    func value(_ node: UInt32) -> ValueView {
        let packed = valueSlot(node).load(ordering: .acquiring)
        let p = UnsafeRawPointer(base + Int(packed >> 32))
        let size = Int(packed & 0xFFFF_FFFF)
        let meta = p.load(fromByteOffset: 0, as: UInt8.self)
        let userMeta = p.load(fromByteOffset: 1, as: UInt8.self)
        var expiresAt: UInt64 = 0
        var shift: UInt64 = 0
        var i = 2
        while true {
            let b = p.load(fromByteOffset: i, as: UInt8.self)
            i += 1
            expiresAt |= UInt64(b & 0x7F) << shift
            if b < 0x80 { break }
            shift += 7
        }
        return ValueView(meta: meta, userMeta: userMeta, expiresAt: expiresAt,
                         bytes: UnsafeRawBufferPointer(start: p + i, count: size - i))
    }

    // MARK: - Search

    /// Three-way comparison of the node's key with the probe (same order as
    /// `InternalKey.compare`).
    @inline(__always)
    private func compare(_ node: UInt32, _ probe: Probe) -> Int {
        let k = key(node)
        let userLen = k.count - InternalKey.suffixSize
        let c = compareBytes(UnsafeRawBufferPointer(start: k.baseAddress, count: userLen), probe.userKey)
        if c != 0 { return c }
        let s = UInt64(bigEndian: k.loadUnaligned(fromByteOffset: userLen, as: UInt64.self))
        return s < probe.suffix ? -1 : (s > probe.suffix ? 1 : 0)
    }

    @inline(__always)
    private var listHeight: Int { heightAtomic.load(ordering: .relaxed) }

    /// First node >= probe, or 0. With `recordPrev` (writer only) the predecessor at
    /// every level is left in `prevScratch`.
    @inline(__always)
    private func findGreaterOrEqual(_ probe: Probe, recordPrev: Bool = false) -> UInt32 {
        var x = head
        var level = listHeight - 1
        var lastChecked: UInt32 = 0
        while true {
            let n = next(x, level)
            // A node already found >= probe on the level above needs no second compare.
            if n != 0 && n != lastChecked && compare(n, probe) < 0 {
                x = n
                continue
            }
            lastChecked = n
            if recordPrev { prevScratch[level] = x }
            if level == 0 { return n }
            level -= 1
        }
    }

    /// Last node < probe, or 0 when none.
    func findLessThan(_ probe: Probe) -> UInt32 {
        var x = head
        var level = listHeight - 1
        while true {
            let n = next(x, level)
            if n != 0 && compare(n, probe) < 0 {
                x = n
                continue
            }
            if level == 0 { return x == head ? 0 : x }
            level -= 1
        }
    }

    /// Last node <= probe, or 0 when none.
    func findLessOrEqual(_ probe: Probe) -> UInt32 {
        var x = head
        var level = listHeight - 1
        while true {
            let n = next(x, level)
            if n != 0 && compare(n, probe) <= 0 {
                x = n
                continue
            }
            if level == 0 { return x == head ? 0 : x }
            level -= 1
        }
    }

    /// First node >= probe, or 0 (for readers).
    func findFirst(atLeast probe: Probe) -> UInt32 { findGreaterOrEqual(probe) }

    /// Last node, or 0 when empty.
    func findLast() -> UInt32 {
        var x = head
        var level = listHeight - 1
        while true {
            let n = next(x, level)
            if n != 0 {
                x = n
                continue
            }
            if level == 0 { return x == head ? 0 : x }
            level -= 1
        }
    }

    // MARK: - Insert (single writer)

    private func put(_ probe: Probe, value: ValueView) -> Bool {
        let found = findGreaterOrEqual(probe, recordPrev: true)
        let valueSize = value.encodedSize
        if found != 0 && compare(found, probe) == 0 {
            let off = arena.allocate(valueSize, alignment: 1)
            if off == 0 { return false }
            value.encode(into: arena.pointer(off))
            valueSlot(found).store(UInt64(off) << 32 | UInt64(valueSize), ordering: .releasing)
            return true
        }

        let height = randomHeight()
        let keySize = probe.userKey.count + InternalKey.suffixSize
        let towerEnd = Skiplist.nodeHeaderSize + 4 * height
        let node = arena.allocate(towerEnd + keySize + valueSize, alignment: 8)
        if node == 0 { return false }
        let p = arena.pointer(node)
        let valueOffset = Int(node) + towerEnd + keySize
        initNode(node, height: height, keySize: keySize, packedValue: UInt64(valueOffset) << 32 | UInt64(valueSize))
        // Key, then value.
        if probe.userKey.count > 0 {
            (p + towerEnd).copyMemory(from: probe.userKey.baseAddress!, byteCount: probe.userKey.count)
        }
        (p + towerEnd + probe.userKey.count).storeBytes(of: probe.suffix.bigEndian, as: UInt64.self)
        value.encode(into: base + valueOffset)

        let oldHeight = listHeight
        if height > oldHeight {
            for i in oldHeight ..< height { prevScratch[i] = head }
            // Readers that see the new height before the links find nil at the head's
            // new levels and simply descend.
            heightAtomic.store(height, ordering: .relaxed)
        }
        // Set the node's own links first (not yet visible), then publish bottom-up.
        for i in 0 ..< height {
            link(node, i).store(next(prevScratch[i], i), ordering: .relaxed)
        }
        for i in 0 ..< height {
            link(prevScratch[i], i).store(node, ordering: .releasing)
        }
        countAtomic.store(countAtomic.load(ordering: .relaxed) + 1, ordering: .relaxed)
        return true
    }

    private func initNode(_ node: UInt32, height: Int, keySize: Int, packedValue: UInt64) {
        let p = arena.pointer(node)
        p.initializeMemory(as: UInt64.AtomicRepresentation.self, repeating: .init(packedValue), count: 1)
        p.storeBytes(of: UInt32(keySize), toByteOffset: 8, as: UInt32.self)
        p.storeBytes(of: UInt32(height), toByteOffset: 12, as: UInt32.self)
        (p + Skiplist.nodeHeaderSize).initializeMemory(as: UInt32.AtomicRepresentation.self,
                                                        repeating: .init(0), count: height)
    }

    /// 1 + number of leading "1 in 4" successes, capped at `maxHeight`.
    @inline(__always)
    private func randomHeight() -> Int {
        rng ^= rng >> 12
        rng ^= rng << 25
        rng ^= rng >> 27
        var r = rng &* 0x2545_F491_4F6C_DD1D
        var h = 1
        while h < Skiplist.maxHeight && r & 3 == 0 {
            h += 1
            r >>= 2
        }
        return h
    }
}

/// A search key split into user key and the host-order value of its big-endian
/// version suffix (UInt64.max - version), so that probes need not be materialised.
struct Probe {
    var userKey: UnsafeRawBufferPointer
    var suffix: UInt64

    @inline(__always)
    init(userKey: UnsafeRawBufferPointer, version: UInt64) {
        self.userKey = userKey
        suffix = UInt64.max - version
    }

    /// `key` must be at least 8 bytes.
    @inline(__always)
    init(internalKey key: UnsafeRawBufferPointer) {
        userKey = InternalKey.userKey(key)
        suffix = UInt64(bigEndian: key.loadUnaligned(fromByteOffset: key.count - InternalKey.suffixSize, as: UInt64.self))
    }

    /// Like `init(internalKey:)`, but a key shorter than 8 bytes is a bare user key that
    /// sorts before every version of itself.
    @inline(__always)
    init(seekKey key: UnsafeRawBufferPointer) {
        if key.count >= InternalKey.suffixSize {
            userKey = InternalKey.userKey(key)
            suffix = UInt64(bigEndian: key.loadUnaligned(fromByteOffset: key.count - InternalKey.suffixSize, as: UInt64.self))
        } else {
            userKey = key
            suffix = 0
        }
    }
}
