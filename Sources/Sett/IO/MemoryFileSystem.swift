import Synchronization

/// A file system held in memory: backs `Options.inMemory`, and tests that need a
/// file system without disks. Thread-safe. Mapped regions are copies taken at map time.
final class MemoryFileSystem: FileSystem {
    final class Node: @unchecked Sendable {
        let lock = Mutex<[UInt8]>([])
        let mtime = Atomic<UInt64>(unixNow())
    }

    private struct State {
        var files: [String: Node] = [:]
        var directories: Set<String> = ["/"]
        var locks: [String: (exclusive: Bool, holders: Int)] = [:]
    }

    private let state = Mutex(State())

    init() {}

    private static func parent(_ path: String) -> String {
        guard let i = path.lastIndex(of: "/") else { return "." }
        return i == path.startIndex ? "/" : String(path[..<i])
    }

    func open(_ path: String, _ mode: OpenMode) throws -> any StorageFile {
        try state.withLock { s in
            if let node = s.files[path] {
                if mode == .createNew { throw SettError(.io, "file exists", file: path) }
                return MemoryFile(path: path, node: node)
            }
            if mode == .readOnly { throw SettError(.notFound, "no such file", file: path) }
            guard s.directories.contains(Self.parent(path)) else { throw SettError(.notFound, "no such directory", file: path) }
            let node = Node()
            s.files[path] = node
            return MemoryFile(path: path, node: node)
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
            guard let node = s.files.removeValue(forKey: from) else { throw SettError(.notFound, "no such file", file: from) }
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
            let prefix = dir.hasSuffix("/") ? dir : dir + "/"
            return s.files.keys.filter { $0.hasPrefix(prefix) && !$0.dropFirst(prefix.count).contains("/") }
                .map { String($0.dropFirst(prefix.count)) }
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

    func syncDirectory(_ path: String) throws {}

    func lock(_ path: String, exclusive: Bool) throws -> any FileLock {
        try state.withLock { s in
            if let held = s.locks[path], held.holders > 0, held.exclusive || exclusive {
                throw SettError(.locked, "directory is locked by another opener", file: path)
            }
            let holders = (s.locks[path]?.holders ?? 0) + 1
            s.locks[path] = (exclusive, holders)
        }
        return MemoryLock { [weak self] in
            self?.state.withLock { s in
                if let held = s.locks[path] { s.locks[path] = (held.exclusive, held.holders - 1) }
            }
        }
    }
}

final class MemoryLock: FileLock, @unchecked Sendable {
    private var onRelease: (() -> Void)?
    init(_ onRelease: @escaping () -> Void) { self.onRelease = onRelease }
    func release() {
        onRelease?()
        onRelease = nil
    }
    deinit { release() }
}

final class MemoryFile: StorageFile, @unchecked Sendable {
    let path: String
    private let node: MemoryFileSystem.Node

    init(path: String, node: MemoryFileSystem.Node) {
        self.path = path
        self.node = node
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        node.lock.withLock { bytes in
            let start = Int(offset)
            guard start < bytes.count else { return 0 }
            let n = min(buffer.count, bytes.count - start)
            bytes.withUnsafeBytes { src in
                buffer.baseAddress!.copyMemory(from: src.baseAddress! + start, byteCount: n)
            }
            return n
        }
    }

    func write(_ src: UnsafeRawBufferPointer, at offset: Int64) throws {
        node.mtime.store(unixNow(), ordering: .relaxed)
        node.lock.withLock { bytes in
            let start = Int(offset)
            if bytes.count < start + src.count {
                bytes.append(contentsOf: repeatElement(0, count: start + src.count - bytes.count))
            }
            bytes.withUnsafeMutableBytes { dst in
                if src.count > 0 { (dst.baseAddress! + start).copyMemory(from: src.baseAddress!, byteCount: src.count) }
            }
        }
    }

    func sync() throws {}

    func size() throws -> Int64 { Int64(node.lock.withLock { $0.count }) }

    func truncate(to size: Int64) throws {
        node.lock.withLock { bytes in
            let n = Int(size)
            if n < bytes.count { bytes.removeSubrange(n...) } else {
                bytes.append(contentsOf: repeatElement(0, count: n - bytes.count))
            }
        }
    }

    func map(length: Int) throws -> MappedRegion {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(length, 1), alignment: 16)
        let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: copy[0 ..< length]), at: 0)
        if n < length { throw SettError.corruption("map past end of file", file: path, offset: Int64(n)) }
        return MappedRegion(bytes: UnsafeRawBufferPointer(rebasing: copy[0 ..< length])) { region in
            UnsafeMutableRawPointer(mutating: region.baseAddress)?.deallocate()
        }
    }

    func close() {}
}
