/// Merges several sorted sources into one stream, moving in one direction fixed at
/// construction (forward = ascending internal keys, reverse = descending).
///
/// Sources are given newest first. When two sources hold the identical internal key
/// (same user key and version, e.g. a WAL replayed after its flush), the newest
/// source's entry is yielded and the others are skipped.
/// Not thread-safe; keys and values borrow the sources until the next move.
final class MergeIterator {
    private let sources: [SourceIterator]
    /// Indices of valid sources, a binary heap ordered by `before`.
    private var heap: [Int] = []
    private var lastKey: [UInt8] = []
    let reverse: Bool

    init(sources: [SourceIterator], reverse: Bool) {
        self.sources = sources
        self.reverse = reverse
        heap.reserveCapacity(sources.count)
        lastKey.reserveCapacity(64)
    }

    var valid: Bool { !heap.isEmpty }
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
        guard !heap.isEmpty else { return }
        let k = key
        lastKey.removeAll(keepingCapacity: true)
        lastKey.append(contentsOf: k)
        advanceTop()
        lastKey.withUnsafeBytes { last in
            while !heap.isEmpty && InternalKey.compare(sources[heap[0]].key, last) == 0 {
                advanceTop()
            }
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
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                siftDown(0)
            }
        }
    }

    private func rebuild() {
        heap.removeAll(keepingCapacity: true)
        for i in sources.indices where sources[i].valid {
            heap.append(i)
            siftUp(heap.count - 1)
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
            if before(heap[i], heap[p]) { heap.swapAt(i, p); i = p } else { return }
        }
    }

    private func siftDown(_ start: Int) {
        var i = start
        let n = heap.count
        while true {
            let l = 2 * i + 1
            if l >= n { return }
            var m = l
            let r = l + 1
            if r < n && before(heap[r], heap[l]) { m = r }
            if before(heap[m], heap[i]) { heap.swapAt(i, m); i = m } else { return }
        }
    }
}
