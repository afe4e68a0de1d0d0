/// Running a compaction: merge the inputs, drop what no reader can see, write the
/// output tables, then publish them (manifest first, then the in-memory snapshot).
///
/// What is dropped is `VersionFilter`'s rule; every dropped value-pointer entry is
/// counted against its value-log file.
extension LevelsController {
    func run(_ plan: CompactionPlan) throws {
        if plan.isTrivialMove {
            var changes: [ManifestChange] = []
            for t in plan.top {
                changes.append(.delete(t.id, level: plan.fromLevel))
                changes.append(.create(t.id, level: plan.toLevel, compression: t.compression))
            }
            try manifest.apply(changes)
            publish(plan, outputs: plan.top, markInputs: false)
            compactionCount.add(1, ordering: .relaxed)
            return
        }
        let ranges = splitRanges(plan)
        var results = [Result<[Table], any Error>](repeating: .success([]), count: ranges.count)
        let discard = discardTs.load(ordering: .acquiring)
        let now = unixNow()
        // Subcompactions over disjoint user-key ranges run on their own threads.
        var threads: [WorkerThread] = []
        let box = ResultBox(count: ranges.count)
        for i in 1 ..< ranges.count {
            threads.append(WorkerThread(name: "sett-subcompact") { [self] in
                box.set(i, Result { try compactRange(plan, range: ranges[i], discardTs: discard, now: now) })
            })
        }
        results[0] = Result { try compactRange(plan, range: ranges[0], discardTs: discard, now: now) }
        for t in threads { t.join() }
        for i in 1 ..< ranges.count { results[i] = box.get(i) }
        var outputs: [Table] = []
        var failure: (any Error)?
        for r in results {
            switch r {
            case .success(let ts): outputs.append(contentsOf: ts)
            case .failure(let e): failure = failure ?? e
            }
        }
        if let failure {
            for t in outputs { t.markForDeletion() }
            throw failure
        }
        try fs.syncDirectory(dir)
        var changes: [ManifestChange] = outputs.map { .create($0.id, level: plan.toLevel, compression: $0.compression) }
        changes += plan.top.map { .delete($0.id, level: plan.fromLevel) }
        changes += plan.bottom.map { .delete($0.id, level: plan.toLevel) }
        do {
            try manifest.apply(changes)
        } catch {
            for t in outputs { t.markForDeletion() }
            throw error
        }
        publish(plan, outputs: outputs, markInputs: true)
        compactionCount.add(1, ordering: .relaxed)
        // The compaction is done and durable; discard statistics are hints for value-log
        // GC, so failing to persist them must not count as a failed compaction.
        do { try valueLog?.persistDiscardStats() } catch {
            logger.warning("persisting value-log discard statistics failed", metadata: ["error": "\(error)"])
        }
    }

    /// Splits the plan into up to `numCompactors` (at least 1) user-key ranges at
    /// boundaries between bottom tables. Each range is [start, end): nil = unbounded.
    func splitRanges(_ plan: CompactionPlan) -> [(start: [UInt8]?, end: [UInt8]?)] {
        let parts = min(max(1, options.numCompactors), 4, max(1, plan.bottom.count))
        guard parts > 1 else { return [(nil, nil)] }
        var bounds: [[UInt8]] = []
        for i in 1 ..< parts {
            let t = plan.bottom[i * plan.bottom.count / parts]
            bounds.append(Array(InternalKey.userKey(t.smallest)))
        }
        var ranges: [(start: [UInt8]?, end: [UInt8]?)] = []
        var start: [UInt8]? = nil
        for b in bounds {
            if let s = start, compareBytes(s, b) >= 0 { continue }
            ranges.append((start, b))
            start = b
        }
        ranges.append((start, nil))
        return ranges
    }

    /// Merges the plan's inputs within one user-key range into new tables.
    private func compactRange(_ plan: CompactionPlan, range: (start: [UInt8]?, end: [UInt8]?),
                              discardTs: UInt64, now: UInt64) throws -> [Table] {
        var sources: [SourceIterator] = []
        if plan.fromLevel == 0 {
            for t in plan.top { sources.append(.table(t.makeIterator())) }   // newest first
        } else {
            sources.append(.level(LevelIterator(tables: plan.top)))
        }
        if !plan.bottom.isEmpty { sources.append(.level(LevelIterator(tables: plan.bottom))) }
        let merge = MergeIterator(sources: sources, reverse: false)
        if let start = range.start {
            InternalKey.make(start, version: UInt64.max).withUnsafeBytes { merge.seek($0) }
        } else {
            merge.rewind()
        }
        let builderOptions = TableBuilderOptions(options)
        var builder = TableBuilder(options: builderOptions)
        var outputs: [Table] = []
        var filter = VersionFilter(discardTs: discardTs, numVersionsToKeep: options.numVersionsToKeep,
                                   isBottommost: plan.isBottommost, now: now)

        func finishTable() throws {
            guard !builder.isEmpty else { return }
            let id = newTableId()
            let path = joinPath(dir, Table.fileName(id))
            try Table.write(fs: fs, path: path, bytes: builder.finish())
            outputs.append(try Table.open(fs: fs, path: path, id: id, checksumMode: options.checksumVerificationMode, cache: cache))
            builder = TableBuilder(options: builderOptions)
        }

        do {
            while merge.valid {
                let key = merge.key
                let userKey = InternalKey.userKey(key)
                if let end = range.end, end.withUnsafeBytes({ compareBytes(userKey, $0) }) >= 0 { break }
                // Split output only between user keys, never inside one key's versions.
                if filter.startsNewUserKey(key) && builder.estimatedSize >= plan.tableBytes { try finishTable() }
                let value = merge.value
                if filter.keep(key, value) {
                    builder.add(key: key, value: value)
                } else {
                    valueLog?.noteDropped(value)
                }
                merge.next()
            }
            if let e = merge.error { throw e }
            try finishTable()
        } catch {
            for t in outputs { t.markForDeletion() }
            throw error
        }
        return outputs
    }
}

/// Results handed back from subcompaction threads.
private final class ResultBox: @unchecked Sendable {
    private let monitor = Monitor()
    private var results: [Result<[Table], any Error>]
    init(count: Int) { results = Array(repeating: .success([]), count: count) }
    func set(_ i: Int, _ r: Result<[Table], any Error>) { monitor.withLock { results[i] = r } }
    func get(_ i: Int) -> Result<[Table], any Error> { monitor.withLock { results[i] } }
}
