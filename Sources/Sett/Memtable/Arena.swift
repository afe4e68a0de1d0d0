import Atomics

/// A bump allocator over one raw allocation, addressed by `UInt32` offsets.
///
/// Thread safety: `allocate` is called by one writer thread only. `pointer(_:)`,
/// `used` and `capacity` may be called from any thread. Memory handed out is never
/// freed or moved until the arena is released, so readers may keep pointers into it
/// for as long as they hold the owner (the skiplist).
///
/// Invariants: offset 0 is never handed out (it means nil); the first allocation starts
/// at `Arena.firstOffset`; `used` only grows and never exceeds `capacity`.
final class Arena: @unchecked Sendable {
    /// Offsets below this are reserved so that 0 can mean "no node".
    static let firstOffset = 8
    /// Alignment of the whole allocation (a cache line).
    static let baseAlignment = 64

    let base: UnsafeMutableRawPointer
    let capacity: Int
    /// Bytes handed out so far (including the reserved prefix). Written by the writer,
    /// read (relaxed) by anyone for statistics.
    private let usedAtomic: UnsafeAtomic<Int>

    /// `size` is clamped to what 32-bit offsets can address.
    init(size: Int) {
        let cap = min(max(size, 256), Int(UInt32.max))
        capacity = cap
        base = UnsafeMutableRawPointer.allocate(byteCount: cap, alignment: Arena.baseAlignment)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: Arena.firstOffset)
        usedAtomic = .create(Arena.firstOffset)
    }

    deinit {
        _ = usedAtomic.destroy()
        base.deallocate()
    }

    var used: Int { usedAtomic.load(ordering: .relaxed) }
    var remaining: Int { capacity - used }

    /// Reserves `size` bytes aligned to `alignment` (a power of two <= 64) and returns
    /// their offset, or 0 when the arena lacks room (nothing is reserved then).
    /// Single writer only.
    @inline(__always)
    func allocate(_ size: Int, alignment: Int) -> UInt32 {
        let cur = usedAtomic.load(ordering: .relaxed)
        let start = (cur + alignment - 1) & ~(alignment - 1)
        let end = start + size
        if end > capacity { return 0 }
        usedAtomic.store(end, ordering: .relaxed)
        return UInt32(truncatingIfNeeded: start)
    }

    @inline(__always)
    func pointer(_ offset: UInt32) -> UnsafeMutableRawPointer {
        base + Int(offset)
    }
}
