import Synchronization

/// An in-memory file system that knows what a crash would keep, for crash tests.
///
/// It models POSIX durability honestly:
/// - file data is durable only up to the last `sync()` of that file (`StorageFile.sync`);
/// - a directory entry (a file's creation, a rename, a removal) is durable only once its
///   directory is synced with `syncDirectory`; until then a crash restores the entry the
///   directory had at its last sync (a new file vanishes, a renamed file is back under its
///   old name, a removed file reappears with its synced data);
/// - directories themselves are durable as soon as they are created (a simplification:
///   the engine creates them once, before anything else).
///
/// `crashClone(seed:)` returns a new file system holding only the durable state, as a
/// machine that lost power at that instant would find it. With a seed it also keeps,
/// per file, a random prefix of the bytes appended since the last sync (a torn write),
/// and for a file overwritten or truncated since its sync, randomly either the synced
/// or the current bytes. The clone has no locks (the crashed process held them).
///
/// Thread safety: every method may be called from any thread. `crashClone` takes one
/// consistent snapshot of all files at once: file operations (write, sync, truncate)
/// share a gate that the clone holds exclusively, so each lands wholly before or wholly
/// after the clone, for all files together (lock order: gate, namespace, file).
final class CrashableFileSystem: FileSystem {
    /// One file's bytes: what is written (`data`) and what the last sync made durable.
    final class Node: @unchecked Sendable {
        struct Content {
            var data: [UInt8] = []
            var synced: [UInt8] = []
            /// Pages whose write-back failed: clean in the cache, stale on disk.
            var lostPages: Set<Int> = []
        }
        let content: Mutex<Content>
        let mtime = Atomic<UInt64>(unixNow())
        init(_ c: Content = Content()) { content = Mutex(c) }
    }

    private struct State {
        /// The namespace as a running process sees it.
        var files: [String: Node] = [:]
        /// The namespace a crash would leave: updated per directory by `syncDirectory`.
        var durable: [String: Node] = [:]
        var directories: Set<String> = ["/"]
        var locks: [String: (exclusive: Bool, holders: Int)] = [:]
    }

    /// Serialises file operations against `crashClone`.
    final class Gate: Sendable {
        let lock = Mutex(())
    }

    private let state: Mutex<State>
    private let gate = Gate()

    init() { state = Mutex(State()) }

    private init(state: State) { self.state = Mutex(state) }

    static func parent(_ path: String) -> String { parentDirectory(path) }

    // MARK: Crash

    /// A new file system holding what survives a crash now. `seed` (nil: none) turns on
    /// torn writes: a seeded random part of each file's unsynced bytes is kept.
    func crashClone(seed: UInt64? = nil) -> CrashableFileSystem {
        var rng = seed.map { CrashRandom(seed: $0) }
        return gate.lock.withLock { _ in state.withLock { s in
            var out = State()
            out.directories = s.directories
            for path in s.durable.keys.sorted() {
                let node = s.durable[path]!
                let c = node.content.withLock { $0 }
                var kept = c.synced
                if var r = rng {
                    if c.data.count > c.synced.count && c.data.starts(with: c.synced) {
                        var extra = c.data.count - c.synced.count
                        if let firstLost = c.lostPages.map({ $0 * CrashableFile.pageSize }).filter({ $0 >= c.synced.count }).min() {
                            extra = min(extra, max(0, firstLost - c.synced.count))
                        }
                        let n = Int(r.next() % UInt64(extra + 1))
                        kept = c.synced + c.data[c.synced.count ..< c.synced.count + n]
                    } else if c.data != c.synced && r.next() % 2 == 0 {
                        kept = c.data
                    }
                    rng = r
                }
                let copy = Node(Node.Content(data: kept, synced: kept))
                copy.mtime.store(node.mtime.load(ordering: .relaxed), ordering: .relaxed)
                out.files[path] = copy
                out.durable[path] = copy
            }
            return CrashableFileSystem(state: out)
        } }
    }

    /// A copy of the running state (everything written, synced or not), e.g. to compare.
    func snapshotClone() -> CrashableFileSystem {
        state.withLock { s in
            var out = State()
            out.directories = s.directories
            for (path, node) in s.files {
                let c = node.content.withLock { $0.data }
                let copy = Node(Node.Content(data: c, synced: c))
                out.files[path] = copy
                out.durable[path] = copy
            }
            return CrashableFileSystem(state: out)
        }
    }

    /// Paths of the files the running process sees, sorted.
    var allPaths: [String] { state.withLock { $0.files.keys.sorted() } }

    /// The current bytes of `path` (nil if absent), for tests.
    func contents(_ path: String) -> [UInt8]? {
        state.withLock { $0.files[path] }?.content.withLock { $0.data }
    }

    /// Replaces the bytes of `path` (creating it, durable at once), for corruption tests.
    func setContents(_ path: String, _ bytes: [UInt8]) {
        state.withLock { s in
            let node = s.files[path] ?? Node()
            node.content.withLock { $0 = Node.Content(data: bytes, synced: bytes) }
            s.files[path] = node
            s.durable[path] = node
        }
    }

    // MARK: FileSystem

    func open(_ path: String, _ mode: OpenMode) throws -> any StorageFile {
        try state.withLock { s in
            if let node = s.files[path] {
                if mode == .createNew { throw SettError(.io, "file exists", file: path) }
                return CrashableFile(path: path, node: node, gate: gate)
            }
            if mode == .readOnly { throw SettError(.notFound, "no such file", file: path) }
            guard s.directories.contains(Self.parent(path)) else {
                throw SettError(.notFound, "no such directory", file: path)
            }
            let node = Node()
            s.files[path] = node
            return CrashableFile(path: path, node: node, gate: gate)
        }
    }

    func exists(_ path: String) -> Bool {
        state.withLock { $0.files[path] != nil || $0.directories.contains(path) }
    }

    func remove(_ path: String) throws {
        try state.withLock { s in
            if s.files.removeValue(forKey: path) == nil { throw SettError(.notFound, "no such file", file: path) }
        }
    }

    func rename(_ from: String, _ to: String) throws {
        try state.withLock { s in
            guard let node = s.files.removeValue(forKey: from) else {
                throw SettError(.notFound, "no such file", file: from)
            }
            guard s.directories.contains(Self.parent(to)) else {
                s.files[from] = node
                throw SettError(.notFound, "no such directory", file: to)
            }
            s.files[to] = node
        }
    }

    func modificationTime(_ path: String) throws -> UInt64 {
        guard let node = state.withLock({ $0.files[path] }) else { throw SettError(.notFound, "no such file", file: path) }
        return node.mtime.load(ordering: .relaxed)
    }

    func list(_ dir: String) throws -> [String] {
        try state.withLock { s in
            guard s.directories.contains(dir) else { throw SettError(.notFound, "no such directory", file: dir) }
            return s.files.keys.filter { Self.parent($0) == dir }.map { p in
                String(p[p.index(after: p.lastIndex(of: "/")!)...])
            }
        }
    }

    func createDirectory(_ path: String) throws {
        state.withLock { s in
            var p = path
            while p != "/" && p != "." && !p.isEmpty {
                s.directories.insert(p)
                p = Self.parent(p)
            }
        }
    }

    /// Makes the entries of `path` durable: the durable namespace of that directory
    /// becomes exactly its current one.
    func syncDirectory(_ path: String) throws {
        try state.withLock { s in
            guard s.directories.contains(path) else { throw SettError(.notFound, "no such directory", file: path) }
            s.durable = s.durable.filter { Self.parent($0.key) != path }
            for (p, node) in s.files where Self.parent(p) == path { s.durable[p] = node }
        }
    }

    func lock(_ path: String, exclusive: Bool) throws -> any FileLock {
        try state.withLock { s in
            if let held = s.locks[path], held.holders > 0, held.exclusive || exclusive {
                throw SettError(.locked, "directory is locked by another opener", file: path)
            }
            s.locks[path] = (exclusive, (s.locks[path]?.holders ?? 0) + 1)
        }
        return MemoryLock { [weak self] in
            self?.state.withLock { s in
                if let held = s.locks[path] { s.locks[path] = (held.exclusive, held.holders - 1) }
            }
        }
    }
}

/// A handle on a `CrashableFileSystem` file. Stays usable after its name is removed.
final class CrashableFile: StorageFile, @unchecked Sendable {
    static let pageSize = 4096
    let path: String
    private let node: CrashableFileSystem.Node
    private let gate: CrashableFileSystem.Gate

    init(path: String, node: CrashableFileSystem.Node, gate: CrashableFileSystem.Gate) {
        self.path = path
        self.node = node
        self.gate = gate
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        node.content.withLock { c in
            let start = Int(offset)
            guard start < c.data.count, buffer.count > 0 else { return 0 }
            let n = min(buffer.count, c.data.count - start)
            c.data.withUnsafeBytes { src in
                buffer.baseAddress!.copyMemory(from: src.baseAddress! + start, byteCount: n)
            }
            return n
        }
    }

    func write(_ src: UnsafeRawBufferPointer, at offset: Int64) throws {
        node.mtime.store(unixNow(), ordering: .relaxed)
        gate.lock.withLock { _ in node.content.withLock { c in
            let start = Int(offset)
            if c.data.count < start + src.count {
                c.data.append(contentsOf: repeatElement(0, count: start + src.count - c.data.count))
            }
            if src.count > 0 {
                c.data.withUnsafeMutableBytes { dst in
                    (dst.baseAddress! + start).copyMemory(from: src.baseAddress!, byteCount: src.count)
                }
                if !c.lostPages.isEmpty {
                    for p in start / Self.pageSize ... (start + src.count - 1) / Self.pageSize { c.lostPages.remove(p) }
                }
            }
        } }
    }

    func sync() throws {
        gate.lock.withLock { _ in node.content.withLock { c in
            var next = c.data
            for p in c.lostPages {
                var i = p * Self.pageSize
                while i < min((p + 1) * Self.pageSize, next.count) {
                    next[i] = i < c.synced.count ? c.synced[i] : 0
                    i += 1
                }
            }
            c.synced = next
        } }
    }

    /// A failed fsync: every dirty page is marked clean without reaching the disk.
    func loseDirtyPages() {
        node.content.withLock { c in
            let pages = (c.data.count + Self.pageSize - 1) / Self.pageSize
            for p in 0 ..< pages {
                let lo = p * Self.pageSize, hi = min((p + 1) * Self.pageSize, c.data.count)
                if hi > c.synced.count || !c.data[lo ..< hi].elementsEqual(c.synced[lo ..< hi]) { c.lostPages.insert(p) }
            }
        }
    }

    func size() throws -> Int64 { Int64(node.content.withLock { $0.data.count }) }

    func truncate(to size: Int64) throws {
        gate.lock.withLock { _ in node.content.withLock { c in
            let n = Int(size)
            if n < c.data.count { c.data.removeSubrange(n...) } else {
                c.data.append(contentsOf: repeatElement(0, count: n - c.data.count))
            }
            c.lostPages = c.lostPages.filter { $0 * Self.pageSize < n }
        } }
    }

    func map(length: Int) throws -> MappedRegion {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(length, 1), alignment: 16)
        let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: copy[0 ..< length]), at: 0)
        if n < length {
            copy.deallocate()
            throw SettError.corruption("map past end of file", file: path, offset: Int64(n))
        }
        return MappedRegion(bytes: UnsafeRawBufferPointer(rebasing: copy[0 ..< length])) { region in
            UnsafeMutableRawPointer(mutating: region.baseAddress)?.deallocate()
        }
    }

    func close() {}
}

/// A small seeded generator (SplitMix64) for reproducible crash clones and tests.
struct CrashRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
        z = (z ^ (z >> 27)) &* 0x94D1_049B_1331_11EB
        return z ^ (z >> 31)
    }
}
