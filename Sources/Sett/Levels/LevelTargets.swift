/// Dynamic level sizing (the "base level" scheme of RocksDB and Badger v3).
///
/// The last level's size fixes the sizes above it: target(last) = max(size(last),
/// baseLevelSize), and each level up is `levelSizeMultiplier` times smaller. The base
/// level is the deepest level whose target is still <= baseLevelSize; L0 compacts
/// straight into it, and the levels between L0 and the base stay empty. As data grows
/// the base level moves up, so a small database has few levels and low write
/// amplification, and a large one keeps the 10x shape.
///
/// Table size: the base level's tables target `baseTableSize`, growing by
/// `tableSizeMultiplier` per level below it.
struct LevelTargets: Equatable {
    var baseLevel: Int
    /// Target bytes per level (index 0 unused).
    var levelBytes: [Int]
    /// Target bytes per output table per level (index 0: memtable-sized).
    var tableBytes: [Int]

    static func compute(levelSizes: [Int], options: Options) -> LevelTargets {
        let n = options.maxLevels
        let last = n - 1
        var levelBytes = [Int](repeating: 0, count: n)
        var dbSize = levelSizes[last]
        var base = 0
        for i in stride(from: last, to: 0, by: -1) {
            let target = max(dbSize, options.baseLevelSize)
            levelBytes[i] = target
            if base == 0 && target <= options.baseLevelSize { base = i }
            dbSize /= options.levelSizeMultiplier
        }
        if base == 0 { base = 1 }
        var tableBytes = [Int](repeating: options.baseTableSize, count: n)
        tableBytes[0] = options.memTableSize
        var t = options.baseTableSize
        for i in base ..< n {
            tableBytes[i] = t
            if t < Int.max / max(1, options.tableSizeMultiplier) { t *= options.tableSizeMultiplier }
        }
        return LevelTargets(baseLevel: base, levelBytes: levelBytes, tableBytes: tableBytes)
    }
}
