/// The in-memory index of one table: the summary fields, and per block its file offset
/// and first internal key. All keys live in ONE contiguous allocation
/// (smallest | biggest | firstKey 0 | firstKey 1 | ...) addressed through an offsets
/// array, so the binary search over blocks touches no Swift arrays and allocates nothing.
///
/// Thread safety: immutable once `finish(dataEnd:)` has run (inside `decodeIndex`);
/// shared freely between threads afterwards.
/// Invariants: every key is >= 8 bytes; block i occupies [blockStart(i), blockStart(i+1))
/// of the file (payload + trailer); first keys ascend.
final class TableIndex: @unchecked Sendable {
    let header: TableFormat.IndexHeader
    let blockCount: Int
    let smallest: UnsafeRawBufferPointer
    let biggest: UnsafeRawBufferPointer
    private let keys: UnsafeMutableRawPointer
    private let keysCapacity: Int
    /// blockCount + 1 offsets into `keys`; key i is keys[keyStarts[i] ..< keyStarts[i + 1]].
    private let keyStarts: UnsafeMutablePointer<UInt32>
    /// blockCount + 1 file offsets; the last is the end of the data blocks.
    private let blockStarts: UnsafeMutablePointer<Int>
    private var fillOffset: Int

    init(header: TableFormat.IndexHeader, smallest: UnsafeRawBufferPointer, biggest: UnsafeRawBufferPointer, keyBytes: Int) {
        self.header = header
        blockCount = header.blockCount
        keysCapacity = smallest.count + biggest.count + keyBytes
        keys = UnsafeMutableRawPointer.allocate(byteCount: max(keysCapacity, 1), alignment: 8)
        keys.copyMemory(from: smallest.baseAddress!, byteCount: smallest.count)
        (keys + smallest.count).copyMemory(from: biggest.baseAddress!, byteCount: biggest.count)
        self.smallest = UnsafeRawBufferPointer(start: keys, count: smallest.count)
        self.biggest = UnsafeRawBufferPointer(start: keys + smallest.count, count: biggest.count)
        fillOffset = smallest.count + biggest.count
        keyStarts = .allocate(capacity: blockCount + 1)
        blockStarts = .allocate(capacity: blockCount + 1)
    }

    deinit {
        keys.deallocate()
        keyStarts.deallocate()
        blockStarts.deallocate()
    }

    /// Bytes of memory this index holds (for budgets).
    var memoryBytes: Int { keysCapacity + (blockCount + 1) * 12 }

    func set(block i: Int, offset: Int, firstKey: UnsafeRawBufferPointer) {
        keyStarts[i] = UInt32(fillOffset)
        (keys + fillOffset).copyMemory(from: firstKey.baseAddress!, byteCount: firstKey.count)
        fillOffset += firstKey.count
        blockStarts[i] = offset
    }

    func finish(dataEnd: Int) {
        keyStarts[blockCount] = UInt32(fillOffset)
        blockStarts[blockCount] = dataEnd
    }

    @inline(__always)
    func firstKey(_ i: Int) -> UnsafeRawBufferPointer {
        let s = Int(keyStarts[i])
        return UnsafeRawBufferPointer(start: keys + s, count: Int(keyStarts[i + 1]) - s)
    }

    /// File range of block i: payload + trailer.
    @inline(__always)
    func blockRange(_ i: Int) -> (offset: Int, length: Int) {
        (blockStarts[i], blockStarts[i + 1] - blockStarts[i])
    }

    /// The last block whose first key is <= `key`, or -1 when `key` sorts before all.
    @inline(__always)
    func lastBlock(notAfter key: UnsafeRawBufferPointer) -> Int {
        var lo = 0
        var hi = blockCount
        while lo < hi {
            let mid = (lo &+ hi) &>> 1
            if InternalKey.compare(firstKey(mid), key) <= 0 { lo = mid &+ 1 } else { hi = mid }
        }
        return lo - 1
    }
}
