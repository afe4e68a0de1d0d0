/// What one compaction does: merge `top` (tables of `fromLevel`) with `bottom` (the
/// tables of `toLevel` they overlap) into new tables at `toLevel`.
struct CompactionPlan {
    var fromLevel: Int
    var toLevel: Int
    var top: [Table]
    var bottom: [Table]
    /// Target size of each output table.
    var tableBytes: Int
    /// No level below `toLevel` holds keys in the plan's range, so tombstones and
    /// expired entries at or below the discard timestamp can be dropped outright.
    var isBottommost: Bool
    /// Tables of a sorted level that overlap nothing in the target level move there by a
    /// manifest edit instead of being rewritten.
    var isTrivialMove: Bool { fromLevel != 0 && fromLevel != toLevel && bottom.isEmpty }
    /// A table rewritten within its level (tombstone-heavy, nothing below it).
    var isInPlace: Bool { fromLevel == toLevel }
}

extension LevelsController {
    /// Lock held. Scores each level (L0 by table count, others by size over target),
    /// picks the most urgent one whose levels are free, and reserves it.
    func pickCompaction() -> CompactionPlan? {
        let snap = currentLocked
        let targets = LevelTargets.compute(levelSizes: snap.levelSizes, options: options)
        var candidates: [(score: Double, level: Int)] = []
        let l0 = snap.levels[0].count
        if l0 >= options.numLevelZeroTables {
            candidates.append((Double(l0) / Double(options.numLevelZeroTables), 0))
        }
        let last = options.maxLevels - 1
        for l in max(1, targets.baseLevel) ..< last {
            let size = snap.bytes(l)
            let score = Double(size) / Double(max(1, targets.levelBytes[l]))
            if score >= 1 { candidates.append((score, l)) }
        }
        // Levels above the base that still hold data (the base moved up) drain downward.
        for l in 1 ..< targets.baseLevel where !snap.levels[l].isEmpty {
            candidates.append((1.0, l))
        }
        candidates.sort { $0.score > $1.score }
        for c in candidates {
            if let plan = makePlan(from: c.level, snap: snap, targets: targets, wholeLevel: false), reserve(plan) {
                return plan
            }
        }
        return tombstonePlan(snap: snap, targets: targets)
    }

    /// At least half of its entries are tombstones (RocksDB marks such tables too): scans
    /// through its range skip them one by one until compaction drops them with the data
    /// they delete.
    static func isTombstoneHeavy(_ t: Table) -> Bool {
        t.deletionCount > 0 && t.deletionCount * 2 >= t.keyCount
    }

    /// Lock held. When no level needs compaction by size: a tombstone-heavy table moves
    /// down to the older data it deletes (L0: all of L0), or, with nothing below it,
    /// is rewritten in place once all of it is at or below the discard timestamp, which
    /// drops its tombstones. Reserves the plan it returns.
    func tombstonePlan(snap: LevelsSnapshot, targets: LevelTargets) -> CompactionPlan? {
        if snap.levels[0].contains(where: Self.isTombstoneHeavy) {
            if let p = makePlan(from: 0, snap: snap, targets: targets, wholeLevel: true), reserve(p) { return p }
        }
        let discard = discardTs.load(ordering: .acquiring)
        for l in 1 ..< options.maxLevels {
            for t in snap.levels[l] where Self.isTombstoneHeavy(t) {
                let lo = InternalKey.userKey(t.smallest), hi = InternalKey.userKey(t.biggest)
                let below = ((l + 1) ..< options.maxLevels).contains { !snap.overlapping(level: $0, lo: lo, hi: hi).isEmpty }
                var p: CompactionPlan?
                if below {
                    p = plan(from: l, to: l + 1, top: [t], snap: snap, targets: targets)
                } else if t.maxVersion <= discard {
                    p = CompactionPlan(fromLevel: l, toLevel: l, top: [t], bottom: [], tableBytes: targets.tableBytes[l],
                                       isBottommost: true)
                }
                if let p, reserve(p) { return p }
            }
        }
        return nil
    }

    /// Builds a plan moving data out of `from`: all of L0 into the base level, or the
    /// table holding the oldest data of a sorted level into the next.
    func makePlan(from: Int, snap: LevelsSnapshot, targets: LevelTargets, wholeLevel: Bool) -> CompactionPlan? {
        let tables = snap.levels[from]
        guard !tables.isEmpty else { return nil }
        if from == 0 {
            // Never below a non-empty level: newer data must stay above older data, or a
            // tombstone could be dropped as bottommost while older versions of its key
            // sit in a level above it (the base level can move down when data shrinks).
            let firstNonEmpty = (1 ..< options.maxLevels).first { !snap.levels[$0].isEmpty } ?? targets.baseLevel
            return plan(from: 0, to: min(targets.baseLevel, firstNonEmpty), top: tables, snap: snap, targets: targets)
        }
        guard from + 1 < options.maxLevels else { return nil }
        // The oldest table's versions are the most likely to be shadowed, and taking it
        // rotates the work through the level.
        let top = wholeLevel ? tables : [tables.min { $0.maxVersion < $1.maxVersion }!]
        return plan(from: from, to: from + 1, top: top, snap: snap, targets: targets)
    }

    func plan(from: Int, to: Int, top: [Table], snap: LevelsSnapshot, targets: LevelTargets) -> CompactionPlan? {
        guard let range = userKeyRange(top) else { return nil }
        let bottom = range.lo.withUnsafeBytes { lo in
            range.hi.withUnsafeBytes { hi in snap.overlapping(level: to, lo: lo, hi: hi) }
        }
        // Bottommost is judged over everything the compaction rewrites: the bottom tables
        // may reach beyond the top's range, and their tombstones must not be dropped
        // while a lower level still holds older versions of those keys.
        let whole = userKeyRange(top + bottom)!
        let bottommost = whole.lo.withUnsafeBytes { lo in
            whole.hi.withUnsafeBytes { hi in
                ((to + 1) ..< options.maxLevels).allSatisfy { snap.overlapping(level: $0, lo: lo, hi: hi).isEmpty }
            }
        }
        return CompactionPlan(fromLevel: from, toLevel: to, top: top, bottom: bottom,
                              tableBytes: targets.tableBytes[to], isBottommost: bottommost)
    }

    /// Compacts until all data sits in one level: L0 into the next non-empty level (or
    /// the base), then each level into the next non-empty one. Blocks the caller, waiting
    /// for running compactions on the same levels.
    func flatten() throws {
        while true {
            let next: CompactionPlan? = monitor.withLock {
                while true {
                    if stoppingLocked { return nil }
                    let snap = currentLocked
                    let nonEmpty = snap.levels.indices.filter { !snap.levels[$0].isEmpty }
                    guard let from = nonEmpty.first, nonEmpty.count > 1 || from == 0 else { return nil }
                    let targets = LevelTargets.compute(levelSizes: snap.levelSizes, options: options)
                    let to = nonEmpty.count > 1 ? nonEmpty[1] : targets.baseLevel
                    if let p = plan(from: from, to: to, top: snap.levels[from], snap: snap, targets: targets), reserve(p) {
                        return p
                    }
                    monitor.wait(seconds: 0.05)
                }
            }
            guard let next else { return }
            runAndPublish(next)
            if let e = monitor.withLock({ backgroundErrorLocked }) { throw e }
        }
    }
}
