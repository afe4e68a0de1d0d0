import Synchronization

/// Wraps another file system and makes chosen operations fail with an `.io` `SettError`,
/// for fault-injection tests.
///
/// Every throwing call counts as one operation, on the file system (open, remove, rename,
/// modificationTime, list, createDirectory, syncDirectory, lock) and on files (read,
/// write, sync, size, truncate, map); `exists` and `close` cannot fail and do not count.
/// A failing operation does nothing: the wrapped file system never sees it (except that
/// a failed `sync` of a `CrashableFile` loses the file's dirty pages, as on Linux).
///
/// Arming (each replaces the previous rule; the operation counter restarts at 0):
/// - `failOperation(n, sticky:)`: the n-th operation from now fails (0-based); with
///   `sticky` every later one fails too (a process that died there: nothing more happens);
/// - `failMatching(kinds:pathPattern:limit:)`: operations of those kinds on paths that
///   match a glob (`*` = any run of characters, matched against the whole path or its last
///   component) fail, at most `limit` times (nil = always);
/// - `disarm()`: nothing fails; counting goes on.
///
/// Thread safety: all methods may be called from any thread. With several threads doing
/// I/O (flush, compaction) the numbering of operations depends on scheduling.
final class FaultInjectingFileSystem: FileSystem {
    enum Operation: String, Sendable, CaseIterable {
        case open, remove, rename, modificationTime, list, createDirectory, syncDirectory, lock
        case read, write, sync, size, truncate, map
    }

    /// One injected failure, for test diagnostics.
    struct Injection: Sendable, CustomStringConvertible {
        var index: Int
        var operation: Operation
        var path: String
        var description: String { "#\(index) \(operation.rawValue) \(path)" }
    }

    private enum Rule {
        case none
        case nth(Int, sticky: Bool)
        case matching(Set<Operation>, pattern: String, remaining: Int?)
    }

    private struct State {
        var rule = Rule.none
        var count = 0
        var injections: [Injection] = []
    }

    let inner: any FileSystem
    private let state = Mutex(State())

    init(_ inner: any FileSystem) { self.inner = inner }

    // MARK: Arming

    func failOperation(_ n: Int, sticky: Bool = false) {
        state.withLock { s in
            s.rule = .nth(n, sticky: sticky)
            s.count = 0
        }
    }

    func failMatching(kinds: Set<Operation>, pathPattern: String = "*", limit: Int? = nil) {
        state.withLock { s in
            s.rule = .matching(kinds, pattern: pathPattern, remaining: limit)
            s.count = 0
        }
    }

    func disarm() { state.withLock { $0.rule = .none } }

    /// Operations counted since the last arming.
    var operationCount: Int { state.withLock { $0.count } }

    /// Every failure injected so far (oldest first).
    var injections: [Injection] { state.withLock { $0.injections } }

    /// Counts one operation and throws if the rule says it fails.
    func check(_ op: Operation, _ path: String) throws {
        let failure: Injection? = state.withLock { s in
            let index = s.count
            s.count += 1
            var fail = false
            switch s.rule {
            case .none: break
            case .nth(let n, let sticky): fail = index == n || (sticky && index > n)
            case .matching(let kinds, let pattern, let remaining):
                if kinds.contains(op) && (remaining ?? 1) > 0 && Self.matches(path, pattern) {
                    fail = true
                    if let r = remaining { s.rule = .matching(kinds, pattern: pattern, remaining: r - 1) }
                }
            }
            guard fail else { return nil }
            let inj = Injection(index: index, operation: op, path: path)
            s.injections.append(inj)
            return inj
        }
        if let failure {
            throw SettError(.io, "injected fault: \(failure.operation.rawValue) (operation \(failure.index))",
                            file: path, errno: 5)
        }
    }

    /// Glob match with `*` only, against the whole path or its last component.
    static func matches(_ path: String, _ pattern: String) -> Bool {
        if pattern == "*" { return true }
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return glob(Array(path.utf8)[...], Array(pattern.utf8)[...])
            || glob(Array(name.utf8)[...], Array(pattern.utf8)[...])
    }

    private static func glob(_ s: ArraySlice<UInt8>, _ p: ArraySlice<UInt8>) -> Bool {
        guard let first = p.first else { return s.isEmpty }
        if first == UInt8(ascii: "*") {
            var rest = s
            while true {
                if glob(rest, p.dropFirst()) { return true }
                if rest.isEmpty { return false }
                rest = rest.dropFirst()
            }
        }
        guard let c = s.first, c == first else { return false }
        return glob(s.dropFirst(), p.dropFirst())
    }

    // MARK: FileSystem

    func open(_ path: String, _ mode: OpenMode) throws -> any StorageFile {
        try check(.open, path)
        return FaultInjectingFile(try inner.open(path, mode), owner: self)
    }

    func exists(_ path: String) -> Bool { inner.exists(path) }

    func remove(_ path: String) throws {
        try check(.remove, path)
        try inner.remove(path)
    }

    func rename(_ from: String, _ to: String) throws {
        try check(.rename, from)
        try inner.rename(from, to)
    }

    func modificationTime(_ path: String) throws -> UInt64 {
        try check(.modificationTime, path)
        return try inner.modificationTime(path)
    }

    func list(_ dir: String) throws -> [String] {
        try check(.list, dir)
        return try inner.list(dir)
    }

    func createDirectory(_ path: String) throws {
        try check(.createDirectory, path)
        try inner.createDirectory(path)
    }

    func syncDirectory(_ path: String) throws {
        try check(.syncDirectory, path)
        try inner.syncDirectory(path)
    }

    func lock(_ path: String, exclusive: Bool) throws -> any FileLock {
        try check(.lock, path)
        return try inner.lock(path, exclusive: exclusive)
    }
}

/// A file of a `FaultInjectingFileSystem`: checks with its owner before each operation.
final class FaultInjectingFile: StorageFile, @unchecked Sendable {
    let inner: any StorageFile
    let owner: FaultInjectingFileSystem

    init(_ inner: any StorageFile, owner: FaultInjectingFileSystem) {
        self.inner = inner
        self.owner = owner
    }

    var path: String { inner.path }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        try owner.check(.read, path)
        return try inner.read(into: buffer, at: offset)
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        try owner.check(.write, path)
        try inner.write(bytes, at: offset)
    }

    /// A failed sync over a `CrashableFile` also loses its dirty pages, as Linux does.
    func sync() throws {
        do {
            try owner.check(.sync, path)
        } catch {
            (inner as? CrashableFile)?.loseDirtyPages()
            throw error
        }
        try inner.sync()
    }

    func size() throws -> Int64 {
        try owner.check(.size, path)
        return try inner.size()
    }

    func truncate(to size: Int64) throws {
        try owner.check(.truncate, path)
        try inner.truncate(to: size)
    }

    func map(length: Int) throws -> MappedRegion {
        try owner.check(.map, path)
        return try inner.map(length: length)
    }

    func close() { inner.close() }
}
