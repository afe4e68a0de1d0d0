/// An `InternalIterator` over a `Skiplist`.
///
/// Thread safety: one iterator is used by one thread at a time; any number of
/// iterators may run while the single writer inserts. An iterator sees every entry
/// published before each of its moves and possibly some published during it; order
/// is always correct. It keeps the skiplist (and so every borrowed key and value)
/// alive while it lives. `prev` and `seekForPrev` search from the head (O(log n)):
/// nodes carry no back links.
final class SkiplistIterator: InternalIterator {
    let list: Skiplist
    /// Current node offset; 0 when not valid.
    private var node: UInt32 = 0

    init(_ list: Skiplist) {
        self.list = list
    }

    var valid: Bool { node != 0 }
    var key: UnsafeRawBufferPointer { list.key(node) }
    var value: ValueView { list.value(node) }
    /// A skiplist holds only data its writer put there: never corrupt.
    var error: SettError? { nil }

    func seekToFirst() { node = list.next(list.head, 0) }
    func seekToLast() { node = list.findLast() }
    func seek(_ key: UnsafeRawBufferPointer) { node = list.findFirst(atLeast: Probe(seekKey: key)) }
    func seekForPrev(_ key: UnsafeRawBufferPointer) { node = list.findLessOrEqual(Probe(seekKey: key)) }

    func next() {
        guard node != 0 else { return }
        node = list.next(node, 0)
    }

    func prev() {
        guard node != 0 else { return }
        node = list.findLessThan(Probe(internalKey: list.key(node)))
    }
}
