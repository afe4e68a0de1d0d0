import Atomics

/// A block ready for reading, and whatever keeps its bytes alive: nil when the bytes
/// are in the table's mapping (raw blocks, zero copy), else the decompressed block.
struct LoadedBlock {
    let view: BlockView
    let owner: DecodedBlock?
}

/// An open, immutable table file (grammar: Format/TableFormat.swift).
///
/// Thread safety: all reads (`get`, `makeIterator`, block loads) may run concurrently
/// from any thread. The file is mapped read-only; the mapping and the in-memory index
/// live as long as the `Table` object, so keys and values handed out stay valid while a
/// reference to the table (e.g. an iterator) is held.
/// Checksums: footer, index and bloom always at open; every block at open with
/// `.onTableRead`/`.onTableAndBlockRead`; with `.onBlockRead`/`.onTableAndBlockRead` a
/// raw block is verified on its first read (then remembered in a bitmap) and a
/// compressed block each time it is decompressed (a cache hit skips it).
final class Table: @unchecked Sendable {
    let id: UInt64
    let path: String
    let compression: Compression
    let index: TableIndex
    private let fs: any FileSystem
    private let region: MappedRegion
    private let data: UnsafeRawPointer
    private let bloom: BloomFilter
    private let cache: BlockCache?
    private let verifyOnRead: Bool
    /// One bit per block: raw block checksum already verified (only with verifyOnRead).
    private let verifiedBits: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>
    private let verifiedWords: Int
    private let deleteOnRelease = ManagedAtomic<Bool>(false)

    var smallest: UnsafeRawBufferPointer { index.smallest }
    var biggest: UnsafeRawBufferPointer { index.biggest }
    var keyCount: Int { index.header.keyCount }
    /// Tombstone entries (0 for format-1 tables, which do not record it).
    var deletionCount: Int { index.header.deletionCount }
    var maxVersion: UInt64 { index.header.maxVersion }
    var uncompressedSize: Int { index.header.uncompressedSize }
    var blockCount: Int { index.blockCount }
    var onDiskSize: Int { region.bytes.count }
    var hasBloomFilter: Bool { bloom.lines != nil }

    static func fileName(_ id: UInt64) -> String {
        let digits = String(id)
        return String(repeating: "0", count: max(0, 6 - digits.count)) + digits + ".sst"
    }

    /// Table id from a file name like "000042.sst"; nil for other names.
    static func parseFileName(_ name: String) -> UInt64? {
        guard name.hasSuffix(".sst") else { return nil }
        let stem = name.dropLast(4)
        guard !stem.isEmpty, stem.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return UInt64(stem)
    }

    /// Writes `bytes` as the file at `path` (replacing a leftover file of that name, e.g. from
    /// a crash before the manifest recorded it) and fsyncs it; the directory is not synced.
    static func write(fs: any FileSystem, path: String, bytes: [UInt8]) throws {
        let file = try fs.open(path, .readWrite)
        defer { file.close() }
        try file.truncate(to: 0)
        try file.write(bytes, at: 0)
        try file.sync()
    }

    /// Opens a table file: maps it, verifies footer, index and bloom checksums, loads the
    /// index (and with `.onTableRead`/`.onTableAndBlockRead` verifies every block).
    static func open(fs: any FileSystem, path: String, id: UInt64, checksumMode: ChecksumVerificationMode,
                     cache: BlockCache?) throws -> Table {
        let file = try fs.open(path, .readOnly)
        defer { file.close() }
        let size = Int(try file.size())
        guard size >= TableFormat.footerSize + BlockFormat.minBlockSize + BlockFormat.trailerSize else {
            throw SettError.corruption("table file of \(size) bytes is too small (truncated?)", file: path, offset: 0)
        }
        let region = try file.map(length: size)
        let bytes = region.bytes
        func relocate(_ e: SettError, _ base: Int) -> SettError {
            var e = e
            e.file = path
            e.offset = Int64(base) + (e.offset ?? 0)
            return e
        }
        let footerStart = size - TableFormat.footerSize
        let footer: TableFormat.Footer
        do {
            footer = try TableFormat.decodeFooter(UnsafeRawBufferPointer(rebasing: bytes[footerStart...]), fileSize: size)
        } catch let e as SettError { throw relocate(e, footerStart) }
        let indexOffset = Int(footer.indexOffset)
        let indexRaw = UnsafeRawBufferPointer(rebasing: bytes[indexOffset ..< footerStart])
        guard CRC32C.checksum(indexRaw) == footer.indexChecksum else {
            throw SettError.corruption("table index checksum mismatch", file: path, offset: Int64(indexOffset))
        }
        let index: TableIndex
        do {
            index = try TableFormat.decodeIndex(indexRaw, indexOffset: indexOffset, version: footer.version)
        } catch let e as SettError { throw relocate(e, indexOffset) }
        let h = index.header
        let bloomRaw = UnsafeRawBufferPointer(rebasing: bytes[h.bloomOffset ..< h.bloomOffset + h.bloomLength])
        let bloom: BloomFilter
        do {
            guard bloomRaw.isEmpty || CRC32C.checksum(bloomRaw) == h.bloomChecksum else {
                throw SettError.corruption("bloom filter checksum mismatch", file: path, offset: 0)
            }
            bloom = try BloomFilter.parse(bloomRaw)
        } catch let e as SettError { throw relocate(e, h.bloomOffset) }
        let table = Table(id: id, path: path, fs: fs, region: region, index: index, bloom: bloom, cache: cache,
                          verifyOnRead: checksumMode == .onBlockRead || checksumMode == .onTableAndBlockRead)
        if checksumMode == .onTableRead || checksumMode == .onTableAndBlockRead {
            for i in 0 ..< index.blockCount { try table.verifyChecksum(block: i) }
        }
        return table
    }

    private init(id: UInt64, path: String, fs: any FileSystem, region: MappedRegion, index: TableIndex,
                 bloom: BloomFilter, cache: BlockCache?, verifyOnRead: Bool) {
        self.id = id
        self.path = path
        self.fs = fs
        self.region = region
        data = region.bytes.baseAddress!
        self.index = index
        compression = index.header.compression
        self.bloom = bloom
        self.cache = cache
        self.verifyOnRead = verifyOnRead
        verifiedWords = verifyOnRead ? (index.blockCount + 63) / 64 : 0
        verifiedBits = .allocate(capacity: max(verifiedWords, 1))
        for w in 0 ..< max(verifiedWords, 1) { (verifiedBits + w).initialize(to: UnsafeAtomic<UInt64>.Storage(0)) }
    }

    deinit {
        for w in 0 ..< max(verifiedWords, 1) { _ = (verifiedBits + w).move().dispose() }
        verifiedBits.deallocate()
        if deleteOnRelease.load(ordering: .acquiring) { try? fs.remove(path) }
    }

    /// Once marked, the file is removed when the last reference to the table goes away.
    func markForDeletion() { deleteOnRelease.store(true, ordering: .releasing) }
    var isMarkedForDeletion: Bool { deleteOnRelease.load(ordering: .acquiring) }

    @inline(__always)
    func mayContain(userKeyHash: UInt64) -> Bool { bloom.mayContain(userKeyHash) }

    // MARK: blocks

    @inline(__always)
    private func stored(_ i: Int) -> (bytes: UnsafeRawBufferPointer, offset: Int) {
        let r = index.blockRange(i)
        return (UnsafeRawBufferPointer(start: data + r.offset, count: r.length), r.offset)
    }

    /// A corruption error naming this file and block i's offset.
    @inline(never)
    func corrupt(_ msg: String, block i: Int) -> SettError {
        SettError.corruption("block \(i): \(msg)", file: path, offset: Int64(index.blockRange(i).offset))
    }

    /// Checks the stored checksum of block i.
    func verifyChecksum(block i: Int) throws(SettError) {
        let s = stored(i).bytes
        guard let t = BlockFormat.trailer(of: s), BlockFormat.computeChecksum(of: s) == t.checksum else {
            throw corrupt("checksum mismatch", block: i)
        }
    }

    /// Loads block i (0 <= i < blockCount): zero copy for raw blocks, else from the
    /// cache or decompressed (and cached). Corruption names this file and the block offset.
    @inline(__always)
    func loadBlock(_ i: Int) throws(SettError) -> LoadedBlock {
        let s = stored(i).bytes
        let t = s.count &- BlockFormat.trailerSize
        if s[t] == Compression.none.rawValue {
            if verifyOnRead { try verifyRawOnce(i) }
            let len = Int(UInt32(littleEndian: s.loadUnaligned(fromByteOffset: t &+ 1, as: UInt32.self)))
            guard len == t else { throw corrupt("raw block length \(t) but trailer says \(len)", block: i) }
            do {
                return LoadedBlock(view: try BlockView(UnsafeRawBufferPointer(start: s.baseAddress, count: t)), owner: nil)
            } catch {
                throw corrupt("\(error.message) (at \(error.offset ?? 0) in block)", block: i)
            }
        }
        if let cache, let b = cache.get(BlockCache.Key(table: id, block: UInt32(i))) {
            return LoadedBlock(view: b.view, owner: b)
        }
        return try decompress(i)
    }

    @inline(__always)
    private func verifyRawOnce(_ i: Int) throws(SettError) {
        let word = UnsafeAtomic<UInt64>(at: verifiedBits + (i >> 6))
        let bit: UInt64 = 1 << UInt64(i & 63)
        if word.load(ordering: .relaxed) & bit != 0 { return }
        try verifyChecksum(block: i)
        _ = word.loadThenBitwiseOr(with: bit, ordering: .relaxed)
    }

    @inline(never)
    private func decompress(_ i: Int) throws(SettError) -> LoadedBlock {
        let s = stored(i).bytes
        guard let trailer = BlockFormat.trailer(of: s) else { throw corrupt("stored block too small", block: i) }
        if verifyOnRead { try verifyChecksum(block: i) }
        guard let codec = Compression(rawValue: trailer.compression) else {
            throw corrupt("unknown block compression \(trailer.compression)", block: i)
        }
        let length = Int(trailer.uncompressedLength)
        guard length >= BlockFormat.minBlockSize else {
            throw corrupt("uncompressed length \(length) is too small", block: i)
        }
        let payload = UnsafeRawBufferPointer(rebasing: s[0 ..< s.count - BlockFormat.trailerSize])
        // Bound the allocation by what the table and the compressed bytes can hold.
        guard length <= index.header.uncompressedSize, BlockDecompressor.plausible(codec, payload, length: length) else {
            throw corrupt("uncompressed length \(length) does not fit the table or the \(codec) payload", block: i)
        }
        let block = DecodedBlock(count: length)
        guard BlockDecompressor.decompress(codec, payload, into: block.buffer) else {
            throw corrupt("\(codec) decompression failed (expected \(length) bytes)", block: i)
        }
        do {
            block.setView(try BlockView(UnsafeRawBufferPointer(block.buffer)))
        } catch {
            throw corrupt("\(error.message) (at \(error.offset ?? 0) in block)", block: i)
        }
        cache?.insert(BlockCache.Key(table: id, block: UInt32(i)), block)
        return LoadedBlock(view: block.view, owner: block)
    }

    // MARK: reads

    /// Point lookup: the first entry with internal key >= `seekKey` if it has the same user
    /// key, else nil. Checks the bloom filter with `userKeyHash` (= KeyHash.hash(user key)).
    func get(_ seekKey: UnsafeRawBufferPointer, userKeyHash: UInt64) throws(SettError) -> LookupResult? {
        guard bloom.mayContain(userKeyHash) else { return nil }
        if InternalKey.compare(seekKey, index.biggest) > 0 { return nil }
        let b = max(0, index.lastBlock(notAfter: seekKey))
        let blk = try loadBlock(b)
        defer { withExtendedLifetime(blk.owner) {} }
        let v = blk.view
        let t = v.target(seekKey)
        do {
            let i = try v.lowerBound(t)
            if i < v.count {
                let e = try v.entry(i)
                guard v.sameUserKey(e, t) else { return nil }
                return LookupResult(version: BlockView.version(e), value: try BlockView.decodeValue(e.value))
            }
        } catch {
            throw corrupt(error.message, block: b)
        }
        // Past the end of block b: the answer can only be the first entry of block b+1.
        guard b + 1 < index.blockCount, InternalKey.sameUserKey(index.firstKey(b + 1), seekKey) else { return nil }
        let next = try loadBlock(b + 1)
        defer { withExtendedLifetime(next.owner) {} }
        do {
            let e = try next.view.entry(0)
            return LookupResult(version: BlockView.version(e), value: try BlockView.decodeValue(e.value))
        } catch {
            throw corrupt(error.message, block: b + 1)
        }
    }

    func makeIterator() -> TableIterator { TableIterator(table: self) }
}

extension LookupResult {
    init(version: UInt64, value v: ValueView) {
        self.version = version
        meta = v.meta
        userMeta = v.userMeta
        expiresAt = v.expiresAt
        value = Array(v.bytes)
    }
}
