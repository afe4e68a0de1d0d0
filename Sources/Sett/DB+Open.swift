import Logging

extension DB {
    /// Opens (creating if needed) the database described by `options`.
    ///
    /// Recovery order: take the directory lock; replay the manifest (truncating a torn
    /// final record); open the tables it lists and remove orphans; open the value log
    /// (truncating a torn tail); replay every WAL in order into immutable memtables
    /// (truncating a torn tail), which are then flushed in the background; start a
    /// fresh active memtable and WAL.
    public static func open(_ options: Options) throws -> DB {
        var options = options
        try options.validate()
        if options.inMemory {
            options.fileSystem = MemoryFileSystem()
            options.dir = "/sett-in-memory"
            options.valueDir = options.dir
        }
        let fs = options.fileSystem
        let separateValueDir = options.valueDir != options.dir
        if options.readOnly {
            for d in [options.dir, options.valueDir] where !fs.exists(d) {
                throw SettError(.notFound, "directory does not exist (read-only open creates nothing)", file: d)
            }
        } else {
            try fs.createDirectory(options.dir)
            if separateValueDir { try fs.createDirectory(options.valueDir) }
        }
        let dirLock = try fs.lock(joinPath(options.dir, "LOCK"), exclusive: !options.readOnly)
        let valueDirLock = separateValueDir ? try fs.lock(joinPath(options.valueDir, "LOCK"), exclusive: !options.readOnly) : nil
        do {
            let (manifest, _) = try Manifest.open(fs: fs, dir: options.dir, readOnly: options.readOnly, logger: options.logger)
            let cache = options.blockCacheSize > 0 ? BlockCache(capacityBytes: options.blockCacheSize) : nil
            let valueLog = try ValueLog.open(fs: fs, dir: options.valueDir, options: options)
            let levels = try LevelsController(options: options, fs: fs, manifest: manifest, cache: cache, valueLog: valueLog)
            var maxVersion = levels.snapshot().levels.joined().reduce(0) { max($0, $1.maxVersion) }

            // .wal files are replayed; .log files are retained commit-feed history only.
            let segments = try fs.list(options.dir).compactMap(FeedLog.segmentId)
            let walIds = segments.filter { !$0.retained }.map(\.id).sorted()
            let highestSegment = segments.map(\.id).max() ?? 0
            var memtables: [Memtable] = []
            for id in walIds {
                let mt = try Memtable.replay(fs: fs, dir: options.dir, fileId: id, arenaSize: options.memTableSize,
                                             readOnly: options.readOnly, logger: options.logger)
                maxVersion = max(maxVersion, mt.maxVersion)
                if mt.isEmpty && !options.readOnly {
                    try mt.deleteWAL()
                } else {
                    memtables.insert(mt, at: 0)
                }
            }
            // Tables and WALs can miss the newest commits when compaction dropped all
            // their entries; the feed segments and the FEED floor still know them.
            let retainedIds = segments.filter(\.retained).map(\.id)
            maxVersion = max(maxVersion, try FeedLog.loadFloor(fs: fs, dir: options.dir),
                             try FeedLog.newestRetainedTimestamp(fs: fs, dir: options.dir, retainedIds: retainedIds,
                                                                 logger: options.logger))
            let nextWALId = highestSegment + 1
            let active = try Memtable.create(fs: options.readOnly ? nil : fs, dir: options.dir, fileId: nextWALId,
                                             arenaSize: options.memTableSize)
            if !options.readOnly { try fs.syncDirectory(options.dir) }
            memtables.insert(active, at: 0)
            let feed = try FeedLog.open(fs: fs, options: options, activeId: nextWALId, newestTs: maxVersion)
            let db = DB(options: options, fs: fs, dirLock: dirLock, valueDirLock: valueDirLock, manifest: manifest,
                        valueLog: valueLog, levels: levels, blockCache: cache, memtables: memtables,
                        nextWALId: nextWALId + 1, feed: feed)
            db.maxVersionSeen.store(maxVersion, ordering: .releasing)
            db.startOracle(maxVersion: maxVersion)
            if !options.readOnly {
                // Retention settings apply from open (not only after the next flush), so
                // lowering them frees old segments, and the value-log files they pin, at once.
                do { try feed.enforceRetention() } catch {
                    options.logger.warning("feed retention failed", metadata: ["error": "\(error)"])
                }
                db.startFlusher()
                levels.startCompactors()
                if options.valueLogGCInterval > 0 { db.startValueLogGC() }
            }
            options.logger.info("opened", metadata: [
                "dir": "\(options.dir)", "tables": "\(levels.snapshot().tableCount)",
                "replayedWALs": "\(walIds.count)", "maxVersion": "\(maxVersion)",
            ])
            return db
        } catch {
            dirLock.release()
            valueDirLock?.release()
            throw error
        }
    }

    /// Stops writes, flushes the memtables to L0, stops background work, persists the
    /// value log's discard statistics and releases the directory lock.
    /// Further calls on the database throw `.closed`; a second `close` does nothing.
    public func close() throws {
        let first: Bool = memMonitor.withLock {
            if closed { return false }
            closed = true
            isClosed.store(true, ordering: .releasing)
            return true
        }
        guard first else { return }
        stopValueLogGC()
        feed.close()
        // Let in-flight writers finish.
        waitForWritesIdle()
        committers.shutdown()
        var firstError: (any Error)?
        if !options.readOnly {
            memMonitor.withLock {
                // Queue the active memtable for flush behind an empty, WAL-less placeholder.
                if let active = memtables.first, !active.isEmpty,
                   let placeholder = try? Memtable.create(fs: nil, dir: options.dir, fileId: 0, arenaSize: 1 << 16) {
                    memtables.insert(placeholder, at: 0)
                }
                memMonitor.broadcast()
            }
            flushThread?.join()
            flushThread = nil  // the thread's closure holds the DB: break the cycle
            if let e = memMonitor.withLock({ flushError }) { firstError = e }
            if firstError == nil, let e = writeStopError.withLock({ $0 }) { firstError = e }
            if options.compactL0OnClose && firstError == nil {
                do { try levels.compactLevel0() } catch { firstError = error }
            }
            levels.stop()
            do { try valueLog.persistDiscardStats() } catch { firstError = firstError ?? error }
        }
        do { try valueLog.close() } catch { firstError = firstError ?? error }
        manifest.close()
        valueDirLock?.release()
        dirLock?.release()
        if let firstError { throw firstError }
    }
}
