#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The real file system: POSIX calls, retried on EINTR, errors carrying errno and path.
final class PosixFileSystem: FileSystem {
    static let shared = PosixFileSystem()

    func open(_ path: String, _ mode: OpenMode) throws -> any StorageFile {
        let flags: Int32
        switch mode {
        case .readOnly: flags = O_RDONLY | O_CLOEXEC
        case .readWrite: flags = O_RDWR | O_CREAT | O_CLOEXEC
        case .createNew: flags = O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC
        }
        let fd = try retrying(path: path, "open") { Glibc.open(path, flags, 0o644) }
        return PosixFile(fd: fd, path: path)
    }

    func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    func remove(_ path: String) throws {
        if unlink(path) != 0 { throw posixError("unlink", path: path) }
    }

    func rename(_ from: String, _ to: String) throws {
        if Glibc.rename(from, to) != 0 { throw posixError("rename to \(to)", path: from) }
    }

    func modificationTime(_ path: String) throws -> UInt64 {
        var st = stat()
        if stat(path, &st) != 0 { throw posixError("stat", path: path) }
        return UInt64(max(0, st.st_mtim.tv_sec))
    }

    func list(_ dir: String) throws -> [String] {
        guard let d = opendir(dir) else { throw posixError("opendir", path: dir) }
        defer { closedir(d) }
        var names: [String] = []
        while let ent = readdir(d) {
            let name = withUnsafePointer(to: ent.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    func createDirectory(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST { throw posixError("mkdir", path: prefix) }
            prefix += "/"
        }
    }

    func syncDirectory(_ path: String) throws {
        let fd = try retrying(path: path, "open directory") { Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { Glibc.close(fd) }
        _ = try retrying(path: path, "fsync directory") { fsync(fd) }
    }

    func lock(_ path: String, exclusive: Bool) throws -> any FileLock {
        let fd = try retrying(path: path, "open lock file") { Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644) }
        // Open file description locks conflict between descriptors even inside one process.
        var fl = flock()
        fl.l_type = Int16(exclusive ? F_WRLCK : F_RDLCK)
        fl.l_whence = Int16(SEEK_SET)
        fl.l_start = 0
        fl.l_len = 0
        let F_OFD_SETLK: Int32 = 37
        if fcntl(fd, F_OFD_SETLK, &fl) != 0 {
            let e = errno
            Glibc.close(fd)
            if e == EAGAIN || e == EACCES {
                throw SettError(.locked, "directory is locked by another \(exclusive ? "opener" : "writer"); "
                    + "close it first or open read-only", file: path, errno: e)
            }
            throw SettError(.io, "lock failed", file: path, errno: e)
        }
        if exclusive {
            // Record the holder's pid for operators; advisory only.
            let pid = Array("\(getpid())\n".utf8)
            _ = ftruncate(fd, 0)
            _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        }
        return PosixLock(fd: fd)
    }
}

final class PosixLock: FileLock, @unchecked Sendable {
    private var fd: Int32
    init(fd: Int32) { self.fd = fd }
    func release() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }
    deinit { release() }
}

final class PosixFile: StorageFile, @unchecked Sendable {
    let path: String
    private let fd: Int32
    private var closed = false

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close() }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw posixError("pread", path: path, offset: offset + Int64(done))
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw posixError("pwrite", path: path, offset: offset + Int64(done))
            }
            done += n
        }
    }

    func sync() throws {
        _ = try retrying(path: path, "fdatasync") { fdatasync(fd) }
    }

    func size() throws -> Int64 {
        var st = stat()
        if fstat(fd, &st) != 0 { throw posixError("fstat", path: path) }
        return Int64(st.st_size)
    }

    func truncate(to size: Int64) throws {
        _ = try retrying(path: path, "ftruncate") { ftruncate(fd, off_t(size)) }
    }

    func map(length: Int) throws -> MappedRegion {
        if length == 0 {
            return MappedRegion(bytes: UnsafeRawBufferPointer(start: nil, count: 0)) { _ in }
        }
        guard let p = mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            throw posixError("mmap", path: path)
        }
        return MappedRegion(bytes: UnsafeRawBufferPointer(start: p, count: length)) { region in
            munmap(UnsafeMutableRawPointer(mutating: region.baseAddress), region.count)
        }
    }

    func close() {
        if !closed {
            closed = true
            Glibc.close(fd)
        }
    }
}

/// Runs a syscall returning -1 on failure, retrying on EINTR.
@discardableResult
private func retrying(path: String, _ what: String, _ call: () -> Int32) throws -> Int32 {
    while true {
        let r = call()
        if r >= 0 { return r }
        if errno == EINTR { continue }
        throw posixError(what, path: path)
    }
}

private func posixError(_ what: String, path: String, offset: Int64? = nil) -> SettError {
    let e = errno
    let text = String(cString: strerror(e))
    let code: SettError.Code = e == ENOENT ? .notFound : .io
    return SettError(code, "\(what): \(text)", file: path, offset: offset, errno: e)
}
