/// An immutable view of which tables make up each level. Readers take one and use it
/// without locks; compaction and flush publish a new one.
///
/// Invariants: `levels[0]` is ordered newest first and its tables may overlap; every
/// other level is sorted by smallest key and its tables never overlap in user keys
/// (all versions of one user key live in one table of a level).
struct LevelsSnapshot {
    var levels: [[Table]]

    init(maxLevels: Int) {
        levels = Array(repeating: [], count: maxLevels)
    }

    func bytes(_ level: Int) -> Int { levels[level].reduce(0) { $0 + $1.onDiskSize } }
    var levelSizes: [Int] { levels.indices.map(bytes) }
    var tableCount: Int { levels.reduce(0) { $0 + $1.count } }

    /// Tables of `level` whose user-key range intersects [lo, hi] (inclusive user keys).
    func overlapping(level: Int, lo: UnsafeRawBufferPointer, hi: UnsafeRawBufferPointer) -> [Table] {
        levels[level].filter { t in
            compareBytes(InternalKey.userKey(t.biggest), lo) >= 0 && compareBytes(InternalKey.userKey(t.smallest), hi) <= 0
        }
    }

    /// Sorts a sorted level after edits.
    static func sortLevel(_ tables: inout [Table]) {
        tables.sort { InternalKey.compare($0.smallest, $1.smallest) < 0 }
    }
}

/// User-key range [smallest, biggest] covered by a set of tables (copied).
func userKeyRange(_ tables: [Table]) -> (lo: [UInt8], hi: [UInt8])? {
    guard var lo = tables.first.map({ Array(InternalKey.userKey($0.smallest)) }) else { return nil }
    var hi = Array(InternalKey.userKey(tables[0].biggest))
    for t in tables.dropFirst() {
        let s = InternalKey.userKey(t.smallest), b = InternalKey.userKey(t.biggest)
        if lo.withUnsafeBytes({ compareBytes(s, $0) }) < 0 { lo = Array(s) }
        if hi.withUnsafeBytes({ compareBytes(b, $0) }) > 0 { hi = Array(b) }
    }
    return (lo, hi)
}
