/// A growable byte buffer reused from entry to entry: `assign` copies bytes in and
/// allocates only when they outgrow the capacity. For per-entry copies on hot paths,
/// where an `[UInt8]` would pay uniqueness, exclusivity and ARC checks on every write.
/// Not thread-safe; `bytes` is valid until the next `assign`.
final class ByteScratch {
    private var base: UnsafeMutableRawPointer
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int = 64) {
        self.capacity = max(capacity, 16)
        base = .allocate(byteCount: self.capacity, alignment: 8)
    }

    deinit { base.deallocate() }

    @inline(__always)
    func assign(_ bytes: UnsafeRawBufferPointer) {
        if bytes.count > capacity { grow(bytes.count) }
        if let src = bytes.baseAddress { base.copyMemory(from: src, byteCount: bytes.count) }
        count = bytes.count
    }

    @inline(__always)
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    @inline(never)
    private func grow(_ n: Int) {
        base.deallocate()
        capacity = max(n, capacity * 2)
        base = .allocate(byteCount: capacity, alignment: 8)
    }
}
