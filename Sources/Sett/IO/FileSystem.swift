/// The file-system seam. Every byte the engine reads or writes goes through these
/// protocols, so tests can substitute a crashable or fault-injecting file system.
///
/// Thread safety: implementations must allow concurrent `read` calls on one file and
/// concurrent calls on different files. Writes to one file are serialised by the caller.
protocol FileSystem: AnyObject, Sendable {
    /// Opens (and with `.create` creates) a file.
    func open(_ path: String, _ mode: OpenMode) throws -> any StorageFile
    func exists(_ path: String) -> Bool
    func remove(_ path: String) throws
    /// Atomically replaces `to` with `from` (POSIX rename).
    func rename(_ from: String, _ to: String) throws
    /// Unix seconds of the last modification of the file at `path`.
    func modificationTime(_ path: String) throws -> UInt64
    /// Names (not paths) of the entries of `dir`, unsorted.
    func list(_ dir: String) throws -> [String]
    func createDirectory(_ path: String) throws
    /// fsyncs the directory so that creations, renames and removals in it are durable.
    func syncDirectory(_ path: String) throws
    /// Takes an advisory lock on `path` (created if missing). Exclusive for writers,
    /// shared for read-only opens; fails at once with `.locked` if held incompatibly,
    /// whether by this process or another.
    func lock(_ path: String, exclusive: Bool) throws -> any FileLock
}

enum OpenMode: Sendable {
    case readOnly
    /// Read-write; creates the file if missing.
    case readWrite
    /// Read-write; creates the file, failing if it exists.
    case createNew
}

protocol StorageFile: AnyObject, Sendable {
    var path: String { get }
    /// Reads up to `buffer.count` bytes at `offset`; returns the count read (short only at EOF).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int
    /// Writes all of `bytes` at `offset`.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws
    /// Makes written data durable (fdatasync).
    func sync() throws
    func size() throws -> Int64
    func truncate(to size: Int64) throws
    /// Maps the first `length` bytes read-only. The mapping stays valid while the
    /// returned region lives, even after `close()` or removal of the file.
    func map(length: Int) throws -> MappedRegion
    func close()
}

protocol FileLock: AnyObject, Sendable {
    func release()
}

/// A read-only view of file bytes that owns its mapping (or, in memory file systems,
/// its copy). Unmapped on deinit.
final class MappedRegion: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer
    private let onRelease: @Sendable (UnsafeRawBufferPointer) -> Void

    init(bytes: UnsafeRawBufferPointer, onRelease: @escaping @Sendable (UnsafeRawBufferPointer) -> Void) {
        self.bytes = bytes
        self.onRelease = onRelease
    }

    deinit { onRelease(bytes) }
}

extension StorageFile {
    /// Reads exactly `count` bytes at `offset`, or throws `.corruption` naming the file.
    func readExactly(_ count: Int, at offset: Int64) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let n = try out.withUnsafeMutableBytes { try read(into: $0, at: offset) }
        if n != count {
            throw SettError.corruption("short read: wanted \(count) bytes, got \(n)", file: path, offset: offset)
        }
        return out
    }

    func write(_ bytes: [UInt8], at offset: Int64) throws {
        try bytes.withUnsafeBytes { try write($0, at: offset) }
    }
}

/// Joins path components with "/".
func joinPath(_ dir: String, _ name: String) -> String {
    dir.hasSuffix("/") ? dir + name : dir + "/" + name
}
