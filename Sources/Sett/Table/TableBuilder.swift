/// What a table builder needs from `Options`.
struct TableBuilderOptions: Sendable {
    /// Target uncompressed size of a data block.
    var blockSize: Int
    /// Bloom filter false-positive target; 0 builds no filter.
    var bloomFalsePositive: Double
    var compression: Compression
    var zstdLevel: Int

    init(blockSize: Int = 4 << 10, bloomFalsePositive: Double = 0.01, compression: Compression = .none, zstdLevel: Int = 1) {
        self.blockSize = blockSize
        self.bloomFalsePositive = bloomFalsePositive
        self.compression = compression
        self.zstdLevel = zstdLevel
    }

    init(_ options: Options) {
        self.init(blockSize: options.blockSize, bloomFalsePositive: options.bloomFalsePositive,
                  compression: options.compression, zstdLevel: options.zstdCompressionLevel)
    }
}

/// Builds one table file in memory (grammar: Format/TableFormat.swift, Format/BlockFormat.swift).
///
/// Thread safety: none; one builder per flush or compaction output.
/// Contract: keys are added strictly ascending in `InternalKey.compare` order, each at
/// least 8 bytes and at most 65535 bytes (user key + version suffix); `finish()` is
/// called once, on a non-empty builder.
final class TableBuilder {
    let options: TableBuilderOptions
    private let compressor: BlockCompressor

    /// Finished blocks (stored form), then bloom, index, footer appended by `finish`.
    private var out: [UInt8] = []
    /// The block being filled: entries only (offsets kept separately).
    private var block: [UInt8] = []
    private var entryOffsets: [UInt32] = []
    /// First key of the current block (prefix base).
    private var blockFirstKey: [UInt8] = []

    private var storedLengths: [Int] = []
    private var firstKeys: [UInt8] = []
    private var firstKeyEnds: [Int] = []

    private var hashes: [UInt64] = []
    private var smallest: [UInt8] = []
    private var lastKey: [UInt8] = []
    private(set) var keyCount = 0
    private var deletionCount = 0
    private var maxVersion: UInt64 = 0
    private var uncompressedSize = 0

    init(options: TableBuilderOptions) {
        self.options = options
        compressor = BlockCompressor(compression: options.compression, zstdLevel: options.zstdLevel)
        block.reserveCapacity(options.blockSize + options.blockSize / 2)
        entryOffsets.reserveCapacity(max(16, options.blockSize / 32))
    }

    var isEmpty: Bool { keyCount == 0 }

    /// Bytes the finished table would take (approximate: the open block counted
    /// uncompressed, bloom and index estimated).
    var estimatedSize: Int {
        let bloomBytes = Int(BloomFilter.bitsPerKey(falsePositive: options.bloomFalsePositive) * Double(hashes.count) / 8)
        let indexBytes = firstKeys.count + 8 * (storedLengths.count + 1) + smallest.count + lastKey.count + 64
        let open = block.isEmpty ? 0 : block.count + 4 * entryOffsets.count + 4 + BlockFormat.trailerSize
        return out.count + open + bloomBytes + indexBytes + TableFormat.footerSize
    }

    /// Adds an entry; keys strictly ascending (internal order, including the version suffix).
    func add(key: UnsafeRawBufferPointer, value: ValueView) {
        precondition(key.count >= InternalKey.suffixSize && key.count <= Int(UInt16.max), "table key of \(key.count) bytes")
        assert(lastKey.isEmpty || lastKey.withUnsafeBytes { InternalKey.compare($0, key) < 0 }, "keys out of order")
        let userKey = InternalKey.userKey(key)
        let newUserKey = lastKey.isEmpty || lastKey.withUnsafeBytes { !InternalKey.sameUserKey($0, key) }
        if newUserKey && options.bloomFalsePositive > 0 { hashes.append(KeyHash.hash(userKey)) }

        let entrySize = 4 + key.count + value.encodedSize
        if !entryOffsets.isEmpty && block.count + entrySize + 4 * (entryOffsets.count + 1) + 4 > options.blockSize {
            finishBlock()
        }
        if entryOffsets.isEmpty {
            blockFirstKey.removeAll(keepingCapacity: true)
            blockFirstKey.append(contentsOf: key)
            firstKeys.append(contentsOf: key)
            firstKeyEnds.append(firstKeys.count)
        }
        // Share a prefix with the block's first key, never the version suffix.
        let overlap = entryOffsets.isEmpty ? 0 : blockFirstKey.withUnsafeBytes { f in
            commonPrefixLength(f.baseAddress!, key.baseAddress!, min(f.count, userKey.count))
        }
        entryOffsets.append(UInt32(block.count))
        let diffLen = key.count - overlap
        withUnsafeBytes(of: UInt16(overlap).littleEndian) { block.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt16(diffLen).littleEndian) { block.append(contentsOf: $0) }
        block.append(contentsOf: UnsafeRawBufferPointer(rebasing: key[overlap...]))
        block.append(value.meta)
        block.append(value.userMeta)
        var v = value.expiresAt
        while v >= 0x80 {
            block.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        block.append(UInt8(v))
        block.append(contentsOf: value.bytes)

        if smallest.isEmpty { smallest.append(contentsOf: key) }
        lastKey.removeAll(keepingCapacity: true)
        lastKey.append(contentsOf: key)
        keyCount += 1
        if value.meta & EntryMeta.delete != 0 { deletionCount += 1 }
        maxVersion = max(maxVersion, InternalKey.version(key))
    }

    /// Seals the open block: offsets and count, compression, trailer.
    private func finishBlock() {
        guard !entryOffsets.isEmpty else { return }
        for o in entryOffsets { withUnsafeBytes(of: o.littleEndian) { block.append(contentsOf: $0) } }
        withUnsafeBytes(of: UInt32(entryOffsets.count).littleEndian) { block.append(contentsOf: $0) }
        let start = out.count
        let used: Compression = block.withUnsafeBytes { raw in
            if let c = compressor.compress(raw) {
                out.append(contentsOf: c)
                return compressor.compression
            }
            out.append(contentsOf: raw)
            return .none
        }
        BlockFormat.appendTrailer(&out, payloadStart: start, compression: used, uncompressedLength: block.count)
        storedLengths.append(out.count - start)
        uncompressedSize += block.count
        block.removeAll(keepingCapacity: true)
        entryOffsets.removeAll(keepingCapacity: true)
    }

    /// The complete table file bytes. Call once, on a non-empty builder.
    func finish() -> [UInt8] {
        precondition(!isEmpty, "finish() on an empty table builder")
        finishBlock()
        let bloomOffset = out.count
        let bloom = BloomFilter.build(hashes: hashes, falsePositive: options.bloomFalsePositive)
        out.append(contentsOf: bloom)
        let header = TableFormat.IndexHeader(
            compression: options.compression, blockCount: storedLengths.count, keyCount: keyCount,
            maxVersion: maxVersion, uncompressedSize: uncompressedSize, bloomOffset: bloomOffset,
            bloomLength: bloom.count, bloomChecksum: bloom.isEmpty ? 0 : CRC32C.checksum(bloom),
            deletionCount: deletionCount)
        let index = TableFormat.encodeIndex(header, smallest: smallest, biggest: lastKey, storedLengths: storedLengths,
                                            firstKeys: firstKeys, firstKeyEnds: firstKeyEnds)
        let indexOffset = out.count
        out.append(contentsOf: index)
        TableFormat.encodeFooter(.init(indexOffset: UInt64(indexOffset), indexLength: UInt32(index.count),
                                       indexChecksum: CRC32C.checksum(index)), into: &out)
        let result = out
        out = []
        return result
    }
}
