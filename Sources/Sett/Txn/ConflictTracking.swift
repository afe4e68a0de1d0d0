/// A range of user keys a transaction iterated over: `lo` inclusive (empty = from the
/// first key), `hi` inclusive or exclusive (nil = to the last key).
struct KeyRange: Sendable {
    var lo: [UInt8]
    var hi: [UInt8]?
    var hiInclusive: Bool

    /// True when `key` lies inside the range.
    func contains(_ key: [UInt8]) -> Bool {
        if compareBytes(key, lo) < 0 { return false }
        guard let hi else { return true }
        let c = compareBytes(key, hi)
        return hiInclusive ? c <= 0 : c < 0
    }
}

/// What a transaction read, for serializable snapshot isolation: fingerprints of the
/// keys it looked up and the ranges it iterated. Owned by one transaction.
struct ReadSet {
    var fingerprints: [UInt64] = []
    var ranges: [KeyRange] = []

    var isEmpty: Bool { fingerprints.isEmpty && ranges.isEmpty }
}

/// The write set of a committed transaction, kept by the oracle while a transaction
/// that started before it may still commit: fingerprints for point reads, the sorted
/// keys for range reads.
final class CommittedWrites {
    var commitTs: UInt64 = 0
    let fingerprints: Set<UInt64>
    /// Sorted ascending.
    let keys: [[UInt8]]

    init(keys: [[UInt8]]) {
        self.keys = keys.sorted { compareBytes($0, $1) < 0 }
        var f = Set<UInt64>(minimumCapacity: keys.count)
        for k in keys { f.insert(KeyHash.hash(k)) }
        self.fingerprints = f
    }

    /// True when any key this transaction wrote was read (or lies in a range read) by `reads`.
    func overlaps(_ reads: ReadSet) -> Bool {
        for fp in reads.fingerprints where fingerprints.contains(fp) { return true }
        for r in reads.ranges {
            // First written key >= r.lo.
            var lo = 0, hi = keys.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if compareBytes(keys[mid], r.lo) < 0 { lo = mid + 1 } else { hi = mid }
            }
            if lo < keys.count && r.contains(keys[lo]) { return true }
        }
        return false
    }
}
