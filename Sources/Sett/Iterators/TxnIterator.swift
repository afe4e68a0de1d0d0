/// What a transaction iterator yields and how.
public struct IteratorOptions: Sendable {
    /// Read values stored in the value log ahead of use, so `Item.value()` needs no I/O.
    public var prefetchValues = true
    /// How many items to read ahead when `prefetchValues` (the look-ahead grows from 1
    /// to this as the iterator advances, so a seek followed by a few steps stays cheap).
    public var prefetchSize = 100
    /// Iterate in descending key order.
    public var reverse = false
    /// Yield every version of every key (newest first; oldest first in reverse),
    /// including deletions and expired versions (`Item.isDeletedOrExpired`), instead
    /// of only the newest live version.
    public var allVersions = false
    /// Only keys starting with these bytes.
    public var prefix: [UInt8] = []
    /// Hide versions at or below this timestamp (0 = hide none). A key whose newest
    /// visible version is at or below it is skipped.
    public var sinceTs: UInt64 = 0
    /// Items carry keys and metadata only; `Item.value()` throws. Implies no prefetch.
    public var keysOnly = false

    public init(prefetchValues: Bool = true, prefetchSize: Int = 100, reverse: Bool = false, allVersions: Bool = false,
                prefix: [UInt8] = [], sinceTs: UInt64 = 0, keysOnly: Bool = false) {
        self.prefetchValues = prefetchValues
        self.prefetchSize = prefetchSize
        self.reverse = reverse
        self.allVersions = allVersions
        self.prefix = prefix
        self.sinceTs = sinceTs
        self.keysOnly = keysOnly
    }
}

/// Iterates a transaction's snapshot: the versions committed at or below its read
/// timestamp, merged with the transaction's own pending writes (which win over
/// committed versions of the same key; a pending delete hides the key). Pending writes
/// made after the iterator was created are not seen by it.
///
/// Position with `rewind()` or `seek(_:)`, then loop on `valid` / `item` / `next()`:
///
/// ```swift
/// let it = txn.makeIterator(IteratorOptions(prefix: Array("user:".utf8)))
/// it.rewind()
/// while let item = it.item {
///     print(item.key, try item.value())
///     it.next()
/// }
/// ```
///
/// In an update transaction the range from each seek (or rewind) to the last item
/// reached is recorded for conflict detection: a later-committed write of any key in
/// it makes the commit fail. Not thread-safe; use it while the transaction is open.
public final class TxnIterator {
    let txn: Txn
    public let options: IteratorOptions
    private let dbIt: DBIterator
    private let pending: [PendingWrite]
    private var pIdx = 0
    private let prefixEnd: [UInt8]?
    private var buffer: [Item] = []
    private var head = 0
    private var produced = 0
    private var exhausted = false
    private var iterError: SettError?
    private var rangeIndex: Int?
    /// Start bound of the current range (forward: lo inclusive; reverse: hi).
    private var rangeStart: [UInt8] = []
    private var rangeStartInclusive = true
    private var rangeStartUnbounded = false

    init(txn: Txn, options: IteratorOptions) {
        self.txn = txn
        self.options = options
        self.prefixEnd = options.prefix.isEmpty ? nil : prefixSuccessor(options.prefix)
        dbIt = txn.db.makeIterator(at: txn.readTs, reverse: options.reverse, sinceTs: options.sinceTs,
                                   allVersions: options.allVersions)
        var p = txn.isUpdate ? txn.sortedPending() : []
        if !options.prefix.isEmpty { p.removeAll { !$0.entry.key.starts(with: options.prefix) } }
        if options.reverse { p.reverse() }
        pending = p
    }

    /// True while positioned on an item.
    public var valid: Bool { head < buffer.count }

    /// The current item; nil when not `valid`.
    public var item: Item? { head < buffer.count ? buffer[head] : nil }

    /// The first error met (I/O or corruption); iteration stops at it.
    public var error: SettError? { iterError ?? dbIt.error }

    /// Positions at the first item (the last when reverse) within the prefix.
    public func rewind() {
        let prefix = options.prefix
        if options.reverse {
            if let end = prefixEnd { dbIt.seekBefore(end) } else { dbIt.rewind() }
            pIdx = 0
            startRange(prefixEnd ?? [], inclusive: false, unbounded: prefixEnd == nil)
        } else {
            if prefix.isEmpty { dbIt.rewind() } else { dbIt.seek(prefix) }
            pIdx = 0
            startRange(prefix, inclusive: true, unbounded: false)
        }
        refill()
    }

    /// Positions at the first key >= `key` (reverse: the last key <= `key`) within the
    /// prefix.
    public func seek(_ key: [UInt8]) {
        let prefix = options.prefix
        if options.reverse {
            if let end = prefixEnd, compareBytes(key, end) >= 0 {
                rewind()
                return
            }
            dbIt.seek(key)
            pIdx = firstPending { compareBytes($0, key) <= 0 }
            startRange(key, inclusive: true, unbounded: false)
        } else {
            let start = compareBytes(key, prefix) < 0 ? prefix : key
            dbIt.seek(start)
            pIdx = firstPending { compareBytes($0, start) >= 0 }
            startRange(start, inclusive: true, unbounded: false)
        }
        refill()
    }

    /// Moves to the next item.
    public func next() {
        guard head < buffer.count else { return }
        head += 1
        if head >= 64 && head * 2 >= buffer.count {
            buffer.removeFirst(head)
            head = 0
        }
        fill()
        recordRange()
    }

    // MARK: Internals

    private func firstPending(_ pred: ([UInt8]) -> Bool) -> Int {
        var lo = 0, hi = pending.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if pred(pending[mid].entry.key) { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }

    private func refill() {
        buffer.removeAll(keepingCapacity: true)
        head = 0
        produced = 0
        exhausted = false
        fill()
        recordRange()
    }

    private var lookahead: Int {
        guard options.prefetchValues && !options.keysOnly else { return 1 }
        return max(1, min(options.prefetchSize, produced + 1))
    }

    private func fill() {
        let want = lookahead
        while !exhausted && buffer.count - head < want {
            guard var item = produce() else {
                exhausted = true
                break
            }
            produced += 1
            if options.prefetchValues && !options.keysOnly && item.isPointer {
                do { item = try item.resolved() } catch let e as SettError where e.code == .notFound {
                    // An old version whose value GC collected: the item stays, and its
                    // `value()` reports this; iteration goes on.
                } catch {
                    iterError = error as? SettError ?? SettError(.io, "\(error)")
                    exhausted = true
                    break
                }
            }
            buffer.append(item)
        }
    }

    /// The next item of the merged stream, or nil at the end.
    private func produce() -> Item? {
        let reverse = options.reverse
        while true {
            var dbValid = dbIt.valid
            if dbValid && !options.prefix.isEmpty && !dbIt.withKey({ $0.starts(with: options.prefix) }) {
                dbValid = false
            }
            let pValid = pIdx < pending.count
            if !dbValid && !pValid { return nil }
            var usePending = pValid
            if dbValid && pValid {
                var c = pending[pIdx].entry.key.withUnsafeBytes { p in dbIt.withKey { compareBytes(p, $0) } }
                if reverse { c = -c }
                if c < 0 {
                    usePending = true
                } else if c > 0 {
                    usePending = false
                } else if options.allVersions {
                    // The pending write is the newest version: first forward, last in reverse.
                    usePending = !reverse
                } else {
                    dbIt.next()  // shadowed by the pending write
                    usePending = true
                }
            }
            if usePending {
                let p = pending[pIdx]
                pIdx += 1
                let expired = p.entry.expiresAt != 0 && p.entry.expiresAt <= unixNow()
                if !options.allVersions && (p.isDelete || expired) { continue }
                return Item(key: p.entry.key, version: txn.readTs, meta: p.meta, userMeta: p.entry.userMeta,
                            expiresAt: p.entry.expiresAt, raw: p.entry.value, db: txn.db, hasValue: !options.keysOnly)
            }
            let item = dbIt.makeItem(withValue: !options.keysOnly)
            dbIt.next()
            return item
        }
    }

    private func startRange(_ start: [UInt8], inclusive: Bool, unbounded: Bool) {
        guard txn.trackReads, !txn.finished else { return }
        rangeStart = start
        rangeStartInclusive = inclusive
        rangeStartUnbounded = unbounded
        rangeIndex = txn.reads.ranges.count
        txn.reads.ranges.append(KeyRange(lo: [], hi: nil, hiInclusive: false))
    }

    /// Records the range from the start bound to the current item (or to the end of
    /// the prefix when exhausted).
    private func recordRange() {
        guard let i = rangeIndex, !txn.finished, i < txn.reads.ranges.count else { return }
        let current = item?.key
        let r: KeyRange
        if options.reverse {
            let hi: [UInt8]? = rangeStartUnbounded ? nil : rangeStart
            r = KeyRange(lo: current ?? options.prefix, hi: hi, hiInclusive: rangeStartInclusive)
        } else if let current {
            r = KeyRange(lo: rangeStart, hi: current, hiInclusive: true)
        } else {
            r = KeyRange(lo: rangeStart, hi: prefixEnd, hiInclusive: false)
        }
        txn.reads.ranges[i] = r
    }
}

/// The smallest key greater than every key starting with `prefix`; nil if none
/// (the prefix is all 0xFF bytes).
func prefixSuccessor(_ prefix: [UInt8]) -> [UInt8]? {
    var p = prefix
    while let last = p.last {
        if last < 0xFF {
            p[p.count - 1] = last + 1
            return p
        }
        p.removeLast()
    }
    return nil
}

extension Txn {
    /// An iterator over this transaction's snapshot (and its pending writes).
    /// Call `rewind()` or `seek(_:)` before reading.
    public func makeIterator(_ options: IteratorOptions = IteratorOptions()) -> TxnIterator {
        TxnIterator(txn: self, options: options)
    }
}
