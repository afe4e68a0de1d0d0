extension DB {
    /// Starts the thread that turns immutable memtables into L0 tables, oldest first.
    func startFlusher() {
        flushThread = WorkerThread(name: "sett-flush") { [self] in flushLoop() }
    }

    private func flushLoop() {
        while true {
            let next: Memtable? = memMonitor.withLock {
                while memtables.count <= 1 && !closed { memMonitor.wait() }
                if memtables.count <= 1 || flushError != nil { return nil }
                return memtables.last
            }
            guard let mt = next else { return }
            do {
                try flush(mt)
                memMonitor.withLock {
                    if memtables.last === mt { memtables.removeLast() }
                    retiringWALs += 1
                    memMonitor.broadcast()
                }
                // The WAL becomes a retained commit-feed segment (.wal -> .log).
                defer {
                    memMonitor.withLock {
                        retiringWALs -= 1
                        memMonitor.broadcast()
                    }
                }
                try mt.retireWAL()
                feed.noteRetired(id: mt.fileId, newestTs: mt.maxVersion)
                flushCount.add(1, ordering: .relaxed)
                do { try feed.enforceRetention() } catch {
                    logger.warning("feed retention failed", metadata: ["error": "\(error)"])
                }
            } catch {
                let e = error as? SettError ?? SettError(.io, "\(error)")
                logger.error("memtable flush failed; writes will stop", metadata: ["error": "\(e)"])
                memMonitor.withLock {
                    flushError = e
                    writesRefused.store(true, ordering: .releasing)
                    memMonitor.broadcast()
                }
                return
            }
        }
    }

    /// Writes `mt` as one L0 table, fsyncs it and its directory, and records it in the
    /// manifest. The memtable's WAL may be deleted only after this returns.
    func flush(_ mt: Memtable) throws {
        guard !mt.isEmpty else { return }
        let builder = TableBuilder(options: TableBuilderOptions(options))
        // Versions no reader can see go already here (as RocksDB's flush does);
        // tombstones stay, since older data may sit in the levels.
        var filter = VersionFilter(discardTs: discardTs, numVersionsToKeep: options.numVersionsToKeep,
                                   isBottommost: false, now: unixNow())
        let it = mt.skiplist.makeIterator()
        it.seekToFirst()
        while it.valid {
            if filter.keep(it.key, it.value) {
                builder.add(key: it.key, value: it.value)
            } else {
                valueLog.noteDropped(it.value)
            }
            it.next()
        }
        let id = levels.newTableId()
        let path = joinPath(options.dir, Table.fileName(id))
        try Table.write(fs: fs, path: path, bytes: builder.finish())
        try fs.syncDirectory(options.dir)
        let table = try Table.open(fs: fs, path: path, id: id, checksumMode: options.checksumVerificationMode, cache: blockCache)
        try levels.addLevel0(table)
    }

    /// Writes every memtable to L0 and waits until that is done, their WALs retired to
    /// the feed and feed retention applied. Holds the write queue, so no group is
    /// appending while the active memtable is rotated.
    public func flushMemtables() throws {
        try checkOpen()
        if options.readOnly { throw SettError(.readOnly, "database was opened read-only") }
        try writeMonitor.withLock {
            while !writeQueue.isEmpty { writeMonitor.wait() }
            waitForAppliedGroups()
            if memMonitor.withLock({ !memtables[0].isEmpty }) { try rotateMemtable() }
        }
        try memMonitor.withLock {
            while (memtables.count > 1 || retiringWALs > 0) && flushError == nil && !closed { memMonitor.wait() }
            if let e = flushError { throw e }
        }
    }

    /// Makes the active memtable immutable (queued for flush) and starts a new one.
    /// Waits while `numMemtables` are already in memory. Lock not held.
    func rotateMemtable() throws {
        levels.waitForLevel0Room()
        try memMonitor.withLock {
            while memtables.count >= max(2, options.numMemtables) && flushError == nil && !closed {
                memMonitor.wait()
            }
            if let e = flushError { throw e }
            let mt = try Memtable.create(fs: fs, dir: options.dir, fileId: nextWALId, arenaSize: options.memTableSize)
            nextWALId += 1
            memtables.insert(mt, at: 0)
            memMonitor.broadcast()
        }
    }
}

extension LevelsController {
    /// Compacts all of L0 into the base level (used by compactL0OnClose), waiting for
    /// a running compaction on those levels.
    func compactLevel0() throws {
        let plan: CompactionPlan? = monitor.withLock {
            while true {
                let snap = currentLocked
                let targets = LevelTargets.compute(levelSizes: snap.levelSizes, options: options)
                guard let p = makePlan(from: 0, snap: snap, targets: targets, wholeLevel: true) else { return nil }
                if reserve(p) { return p }
                monitor.wait(seconds: 0.05)
            }
        }
        guard let plan else { return }
        runAndPublish(plan)
        if let e = monitor.withLock({ backgroundErrorLocked }) { throw e }
    }
}
