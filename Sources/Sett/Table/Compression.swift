import CLZ4
import CSnappy
import CZstd
import Synchronization

/// Compresses blocks for one table builder, reusing its output buffer and (for zstd)
/// its compression context.
///
/// Thread safety: none; one compressor per builder.
final class BlockCompressor {
    let compression: Compression
    private let level: Int32
    private var zstdContext: OpaquePointer?
    private var out: UnsafeMutableRawPointer
    private var capacity: Int

    init(compression: Compression, zstdLevel: Int) {
        self.compression = compression
        level = Int32(clamping: zstdLevel)
        capacity = 0
        out = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 16)
        if compression == .zstd { zstdContext = ZSTD_createCCtx() }
    }

    deinit {
        out.deallocate()
        if let zstdContext { ZSTD_freeCCtx(zstdContext) }
    }

    private func reserve(_ n: Int) {
        if n <= capacity { return }
        out.deallocate()
        capacity = max(n, capacity * 2)
        out = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    /// Compresses `src`; nil when this compressor is `.none`, compression failed, or it
    /// saves less than 1/8 of the size (the block is then stored raw). The result is
    /// valid until the next call.
    func compress(_ src: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard src.count > 0, let sp = src.baseAddress else { return nil }
        let n: Int
        switch compression {
        case .none:
            return nil
        case .snappy:
            let bound = snappy_max_compressed_length(src.count)
            reserve(bound)
            var len = bound
            let status = snappy_compress(sp.assumingMemoryBound(to: CChar.self), src.count,
                                         out.assumingMemoryBound(to: CChar.self), &len)
            guard status == SNAPPY_OK else { return nil }
            n = len
        case .zstd:
            guard let ctx = zstdContext else { return nil }
            let bound = ZSTD_compressBound(src.count)
            reserve(bound)
            let r = ZSTD_compressCCtx(ctx, out, bound, sp, src.count, level)
            guard ZSTD_isError(r) == 0 else { return nil }
            n = r
        case .lz4:
            guard src.count <= Int(LZ4_MAX_INPUT_SIZE) else { return nil }
            let bound = Int(LZ4_compressBound(Int32(src.count)))
            reserve(bound)
            let r = LZ4_compress_default(sp.assumingMemoryBound(to: CChar.self), out.assumingMemoryBound(to: CChar.self),
                                         Int32(src.count), Int32(bound))
            guard r > 0 else { return nil }
            n = Int(r)
        }
        guard n < src.count - src.count / 8 else { return nil }
        return UnsafeRawBufferPointer(start: out, count: n)
    }
}

/// Decompression of stored blocks. Untrusted input: every library result is checked,
/// and success means exactly `dst.count` bytes were produced inside `dst`.
/// Thread safety: safe from any thread (zstd contexts come from a locked pool).
enum BlockDecompressor {
    /// Decompresses `src` (compressed with `compression`) into `dst`; false on any failure
    /// or when the output is not exactly `dst.count` bytes.
    static func decompress(_ compression: Compression, _ src: UnsafeRawBufferPointer,
                           into dst: UnsafeMutableRawBufferPointer) -> Bool {
        guard let sp = src.baseAddress, let dp = dst.baseAddress, src.count > 0 else { return false }
        switch compression {
        case .none:
            guard src.count == dst.count else { return false }
            dp.copyMemory(from: sp, byteCount: src.count)
            return true
        case .snappy:
            let input = sp.assumingMemoryBound(to: CChar.self)
            var expected = 0
            guard snappy_uncompressed_length(input, src.count, &expected) == SNAPPY_OK, expected == dst.count else {
                return false
            }
            var len = dst.count
            guard snappy_uncompress(input, src.count, dp.assumingMemoryBound(to: CChar.self), &len) == SNAPPY_OK else {
                return false
            }
            return len == dst.count
        case .zstd:
            let ctx = ZstdContextPool.shared.take()
            defer { ZstdContextPool.shared.give(ctx) }
            let r = ZSTD_decompressDCtx(ctx.pointer, dp, dst.count, sp, src.count)
            return ZSTD_isError(r) == 0 && r == dst.count
        case .lz4:
            guard src.count <= Int(Int32.max), dst.count <= Int(Int32.max) else { return false }
            let r = LZ4_decompress_safe(sp.assumingMemoryBound(to: CChar.self), dp.assumingMemoryBound(to: CChar.self),
                                        Int32(src.count), Int32(dst.count))
            return r >= 0 && Int(r) == dst.count
        }
    }
}

extension BlockDecompressor {
    /// Whether `src` can decompress to `length` bytes, judged from the compressed bytes
    /// alone (snappy and zstd record the size; an lz4 block expands at most 255 times).
    /// Checked before allocating the output, so a damaged length field cannot make a
    /// reader allocate gigabytes.
    static func plausible(_ compression: Compression, _ src: UnsafeRawBufferPointer, length: Int) -> Bool {
        guard let sp = src.baseAddress, src.count > 0 else { return false }
        switch compression {
        case .none:
            return src.count == length
        case .snappy:
            var expected = 0
            return snappy_uncompressed_length(sp.assumingMemoryBound(to: CChar.self), src.count, &expected) == SNAPPY_OK
                && expected == length
        case .zstd:
            let size = ZSTD_getFrameContentSize(sp, src.count)
            // Unknown-size frames (not written by Sett) are bounded by zstd's own checks.
            if size == ZSTD_CONTENTSIZE_ERROR { return false }
            if size == ZSTD_CONTENTSIZE_UNKNOWN { return length <= src.count.multipliedReportingOverflow(by: 1024).partialValue }
            return size == UInt64(length)
        case .lz4:
            return length <= src.count.multipliedReportingOverflow(by: 255).partialValue + 16
        }
    }
}

/// A small pool of zstd decompression contexts, so a cache miss does not allocate one.
final class ZstdContextPool: Sendable {
    struct Context: @unchecked Sendable { let pointer: OpaquePointer }

    static let shared = ZstdContextPool()
    private let free = Mutex<[Context]>([])
    private let maxPooled = 16

    func take() -> Context {
        if let c = free.withLock({ $0.popLast() }) { return c }
        return Context(pointer: ZSTD_createDCtx())
    }

    func give(_ c: Context) {
        let kept = free.withLock { list -> Bool in
            if list.count >= maxPooled { return false }
            list.append(c)
            return true
        }
        if !kept { ZSTD_freeDCtx(c.pointer) }
    }
}
