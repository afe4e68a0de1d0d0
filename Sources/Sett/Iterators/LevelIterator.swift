/// Iterates one sorted level (L1 and below): tables in key order, non-overlapping,
/// opening one table iterator at a time.
final class LevelIterator: InternalIterator {
    private let tables: [Table]
    private var index = -1
    private var current: TableIterator?
    private(set) var error: SettError?

    init(tables: [Table]) {
        self.tables = tables
    }

    var valid: Bool { current?.valid ?? false }
    var key: UnsafeRawBufferPointer { current!.key }
    var value: ValueView { current!.value }

    private func open(_ i: Int) {
        index = i
        if i >= 0 && i < tables.count {
            current = tables[i].makeIterator()
        } else {
            current = nil
        }
    }

    private func noteError() {
        if error == nil, let e = current?.error { error = e }
    }

    /// Moves forward past exhausted tables.
    private func skipForward() {
        while let c = current, !c.valid {
            noteError()
            if error != nil || index + 1 >= tables.count { current = nil; return }
            open(index + 1)
            current!.seekToFirst()
        }
    }

    private func skipBackward() {
        while let c = current, !c.valid {
            noteError()
            if error != nil || index <= 0 { current = nil; return }
            open(index - 1)
            current!.seekToLast()
        }
    }

    func seekToFirst() {
        open(0)
        current?.seekToFirst()
        skipForward()
    }

    func seekToLast() {
        open(tables.count - 1)
        current?.seekToLast()
        skipBackward()
    }

    /// Index of the first table whose biggest key >= key.
    private func firstTable(notBelow key: UnsafeRawBufferPointer) -> Int {
        var lo = 0, hi = tables.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if InternalKey.compare(tables[mid].biggest, key) < 0 { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    func seek(_ key: UnsafeRawBufferPointer) {
        let i = firstTable(notBelow: key)
        if i >= tables.count { current = nil; index = tables.count; return }
        open(i)
        current!.seek(key)
        skipForward()
    }

    func seekForPrev(_ key: UnsafeRawBufferPointer) {
        // Last table whose smallest key <= key.
        var lo = 0, hi = tables.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if InternalKey.compare(tables[mid].smallest, key) <= 0 { lo = mid + 1 } else { hi = mid }
        }
        let i = lo - 1
        if i < 0 { current = nil; index = -1; return }
        open(i)
        current!.seekForPrev(key)
        skipBackward()
    }

    func next() {
        current?.next()
        skipForward()
    }

    func prev() {
        current?.prev()
        skipBackward()
    }
}
