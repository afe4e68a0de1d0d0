/// Merges several sorted sources into one stream, moving in one direction fixed at
/// construction (forward = ascending internal keys, reverse = descending).
///
/// Sources are given newest first. When two sources hold the identical internal key
/// (same user key and version, e.g. a WAL replayed after its flush), the newest
/// source's entry is yielded and the others are skipped.
/// Not thread-safe; keys and values borrow the sources until the next move.
final class MergeIterator {
    private let sources: [SourceIterator]
    /// Indices of valid sources, a binary heap ordered by `before`: `heapCount` entries
    /// of a buffer sized for every source (no array checks per move).
    private let heap: UnsafeMutablePointer<Int>
    private var heapCount = 0
    private let lastKey = ByteScratch()
    let reverse: Bool

    init(sources: [SourceIterator], reverse: Bool) {
        self.sources = sources
        self.reverse = reverse
        heap = .allocate(capacity: max(1, sources.count))
    }

    deinit { heap.deallocate() }

    var valid: Bool { heapCount > 0 }
    var key: UnsafeRawBufferPointer { sources[heap[0]].key }
    var value: ValueView { sources[heap[0]].value }

    /// The first error any source met.
    var error: SettError? {
        for s in sources { if let e = s.error { return e } }
        return nil
    }

    /// Positions at the first entry in iteration order.
    func rewind() {
        for s in sources {
            if reverse { s.seekToLast() } else { s.seekToFirst() }
        }
        rebuild()
    }

    /// Forward: first key >= `key`. Reverse: last key <= `key`.
    func seek(_ key: UnsafeRawBufferPointer) {
        for s in sources {
            if reverse { s.seekForPrev(key) } else { s.seek(key) }
        }
        rebuild()
    }

    /// Moves to the next entry in iteration order, skipping duplicates of the current key.
    func next() {
        guard heapCount > 0 else { return }
        if heapCount == 1 {
            advanceTop()  // one source holds no duplicates
            return
        }
        lastKey.assign(key)
        let last = lastKey.bytes
        advanceTop()
        while heapCount > 0 && InternalKey.compare(sources[heap[0]].key, last) == 0 {
            advanceTop()
        }
    }

    @inline(__always)
    private func advanceTop() {
        let i = heap[0]
        let s = sources[i]
        if reverse { s.prev() } else { s.next() }
        if s.valid {
            siftDown(0)
        } else {
            heapCount -= 1
            if heapCount > 0 {
                heap[0] = heap[heapCount]
                siftDown(0)
            }
        }
    }

    private func rebuild() {
        heapCount = 0
        for i in sources.indices where sources[i].valid {
            heap[heapCount] = i
            heapCount += 1
            siftUp(heapCount - 1)
        }
    }

    @inline(__always)
    private func before(_ a: Int, _ b: Int) -> Bool {
        let c = InternalKey.compare(sources[a].key, sources[b].key)
        if c == 0 { return a < b }
        return reverse ? c > 0 : c < 0
    }

    private func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let p = (i - 1) / 2
            if before(heap[i], heap[p]) { swapHeap(i, p); i = p } else { return }
        }
    }

    private func siftDown(_ start: Int) {
        var i = start
        let n = heapCount
        while true {
            let l = 2 * i + 1
            if l >= n { return }
            var m = l
            let r = l + 1
            if r < n && before(heap[r], heap[l]) { m = r }
            if before(heap[m], heap[i]) { swapHeap(i, m); i = m } else { return }
        }
    }

    @inline(__always)
    private func swapHeap(_ i: Int, _ j: Int) {
        let t = heap[i]
        heap[i] = heap[j]
        heap[j] = t
    }
}
