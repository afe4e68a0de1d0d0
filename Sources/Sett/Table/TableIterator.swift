/// Iterates one table in `InternalKey` order, forward and backward, across blocks.
///
/// Thread safety: one thread at a time (iterators are not shared).
/// Holds the table (so its mapping lives) and the current block (so a cached block
/// evicted meanwhile stays valid). `key` points into the block when the entry shares no
/// prefix, else into an iterator-owned scratch buffer; both valid until the next move.
/// Corruption makes the iterator invalid and is kept in `error` (the first one met).
final class TableIterator: InternalIterator {
    let table: Table
    private let index: TableIndex
    private var blockIndex = -1
    private var view = BlockView.empty
    private var owner: DecodedBlock?
    private var entryIndex = 0
    private var scratch: UnsafeMutableRawPointer
    private var scratchCapacity = 64

    private(set) var valid = false
    private(set) var key = UnsafeRawBufferPointer(start: nil, count: 0)
    private(set) var value = ValueView(meta: 0, userMeta: 0, expiresAt: 0, bytes: UnsafeRawBufferPointer(start: nil, count: 0))
    private(set) var error: SettError?

    init(table: Table) {
        self.table = table
        index = table.index
        scratch = .allocate(byteCount: scratchCapacity, alignment: 8)
    }

    deinit { scratch.deallocate() }

    @inline(never)
    private func fail(_ e: SettError) {
        if error == nil { error = e }
        valid = false
    }

    /// Makes block i current; false (and invalid) on error.
    @inline(__always)
    private func load(_ i: Int) -> Bool {
        if i == blockIndex { return true }
        do {
            let b = try table.loadBlock(i)
            view = b.view
            owner = b.owner
            blockIndex = i
            return true
        } catch {
            fail(error)
            return false
        }
    }

    /// Positions at entry i of the current block.
    @inline(__always)
    private func setEntry(_ i: Int) {
        do {
            let e = try view.entry(i)
            if e.overlap == 0 {
                key = e.diff
            } else {
                let n = e.keyCount
                if n > scratchCapacity { grow(n) }
                scratch.copyMemory(from: view.firstKey.baseAddress!, byteCount: e.overlap)
                (scratch + e.overlap).copyMemory(from: e.diff.baseAddress!, byteCount: e.diff.count)
                key = UnsafeRawBufferPointer(start: scratch, count: n)
            }
            value = try BlockView.decodeValue(e.value)
            entryIndex = i
            valid = true
        } catch {
            fail(table.corrupt(error.message, block: blockIndex))
        }
    }

    @inline(never)
    private func grow(_ n: Int) {
        scratch.deallocate()
        scratchCapacity = max(n, scratchCapacity * 2)
        scratch = .allocate(byteCount: scratchCapacity, alignment: 8)
    }

    func seekToFirst() {
        valid = false
        if load(0) { setEntry(0) }
    }

    func seekToLast() {
        valid = false
        if load(index.blockCount - 1) { setEntry(view.count - 1) }
    }

    func seek(_ seekKey: UnsafeRawBufferPointer) {
        valid = false
        if InternalKey.compare(seekKey, index.biggest) > 0 { return }
        let b = max(0, index.lastBlock(notAfter: seekKey))
        guard load(b) else { return }
        let i: Int
        do { i = try view.lowerBound(view.target(seekKey)) } catch {
            fail(table.corrupt(error.message, block: b))
            return
        }
        if i < view.count {
            setEntry(i)
        } else if b + 1 < index.blockCount, load(b + 1) {
            setEntry(0)
        }
    }

    func seekForPrev(_ seekKey: UnsafeRawBufferPointer) {
        valid = false
        let b = index.lastBlock(notAfter: seekKey)
        guard b >= 0, load(b) else { return }
        let i: Int
        do { i = try view.upperBound(view.target(seekKey)) - 1 } catch {
            fail(table.corrupt(error.message, block: b))
            return
        }
        if i >= 0 {
            setEntry(i)
        } else if b > 0, load(b - 1) {
            setEntry(view.count - 1)
        }
    }

    func next() {
        guard valid else { return }
        if entryIndex + 1 < view.count {
            setEntry(entryIndex + 1)
        } else {
            valid = false
            if blockIndex + 1 < index.blockCount, load(blockIndex + 1) { setEntry(0) }
        }
    }

    func prev() {
        guard valid else { return }
        if entryIndex > 0 {
            setEntry(entryIndex - 1)
        } else {
            valid = false
            if blockIndex > 0, load(blockIndex - 1) { setEntry(view.count - 1) }
        }
    }
}
