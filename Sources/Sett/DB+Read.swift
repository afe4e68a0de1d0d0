extension DB {
    /// The newest version of `key` at or below `version`; nil if there is none, or if
    /// that version is a deletion or has expired.
    public func get(_ key: [UInt8], at version: UInt64 = UInt64.max - 1) throws -> VersionedValue? {
        try checkOpen()
        guard !key.isEmpty else { throw SettError.invalid("empty key") }
        guard let found = try key.withUnsafeBytes({ try lookup($0, at: version) }) else { return nil }
        if found.isDeleted || (found.expiresAt != 0 && found.expiresAt <= unixNow()) { return nil }
        let value = found.isPointer
            ? try found.value.withUnsafeBytes { try readValue(ValuePointer.decode($0), key: key, version: found.version) }
            : found.value
        return VersionedValue(version: found.version, value: value, userMeta: found.userMeta, expiresAt: found.expiresAt)
    }

    /// The newest stored version (including tombstones) of `userKey` at or below
    /// `version`, searching memtables newest first, then the levels. Sources are all
    /// consulted, since managed-mode writes may arrive out of version order; a source
    /// whose newest version cannot beat the best found so far is skipped.
    func lookup(_ userKey: UnsafeRawBufferPointer, at version: UInt64) throws -> LookupResult? {
        try withUnsafeTemporaryAllocation(byteCount: userKey.count + InternalKey.suffixSize, alignment: 8) { buf in
            if userKey.count > 0 { buf.baseAddress!.copyMemory(from: userKey.baseAddress!, byteCount: userKey.count) }
            buf.storeBytes(of: (UInt64.max - version).bigEndian, toByteOffset: userKey.count, as: UInt64.self)
            let seekKey = UnsafeRawBufferPointer(buf)
            let mts = memMonitor.withLock { memtables }
            var best: LookupResult? = nil
            for (i, mt) in mts.enumerated() {
                // Immutable memtables have a fixed maxVersion; the active one is still growing.
                if i > 0, let b = best, b.version >= mt.maxVersion { continue }
                if let r = mt.get(userKey: userKey, atVersion: version), best == nil || r.version > best!.version {
                    best = r
                    if r.version == version { return best }
                }
            }
            try levels.get(seekKey, hash: KeyHash.hash(userKey), best: &best)
            return best
        }
    }

    /// An iterator over the newest visible version (<= `version`) of every live key.
    ///
    /// Without managed mode, an iterator at a version below the newest commit holds that
    /// snapshot like a read transaction until it is released: compaction and value-log GC
    /// keep what it can see. A version below `discardTs` when the iterator is made may
    /// already be partly dropped: hold such snapshots with a transaction opened earlier.
    public func makeIterator(at version: UInt64 = UInt64.max - 1, reverse: Bool = false) -> DBIterator {
        let it = makeIterator(at: version, reverse: reverse, sinceTs: 0, allVersions: false)
        if !oracle.managed && version < oracle.commitMark.doneUntil {
            oracle.readMark.begin(version)
            it.registeredRead = version
        }
        return it
    }

    func makeIterator(at version: UInt64, reverse: Bool, sinceTs: UInt64, allVersions: Bool) -> DBIterator {
        let mts = memMonitor.withLock { memtables }
        let snap = levels.snapshot()
        var sources: [SourceIterator] = mts.map { .memtable($0.skiplist.makeIterator()) }
        sources += snap.levels[0].map { .table($0.makeIterator()) }
        for l in 1 ..< snap.levels.count where !snap.levels[l].isEmpty {
            sources.append(.level(LevelIterator(tables: snap.levels[l])))
        }
        return DBIterator(db: self, merge: MergeIterator(sources: sources, reverse: reverse), readVersion: version,
                          sinceTs: sinceTs, allVersions: allVersions)
    }

    /// Flushes the memtables, then compacts until every table is in one level (the
    /// last non-empty one), dropping what the discard timestamp allows.
    public func flatten() throws {
        try checkOpen()
        if options.readOnly { throw SettError(.readOnly, "database was opened read-only") }
        try flushMemtables()
        try levels.flatten()
    }
}
