#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Directory helpers for the CLI (POSIX calls; the engine has its own `FileSystem`).
enum CLIFiles {
    /// Sum of the sizes of regular files under `path` (recursively); 0 if absent.
    static func bytesOnDisk(_ path: String) -> Int {
        guard let dir = opendir(path) else { return 0 }
        defer { closedir(dir) }
        var total = 0
        while let ent = readdir(dir) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            let full = path + "/" + name
            var st = stat()
            guard lstat(full, &st) == 0 else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFDIR: total += bytesOnDisk(full)
            case S_IFREG: total += Int(st.st_size)
            default: break
            }
        }
        return total
    }

    /// `rm -rf path` (files and directories only; symlinks are unlinked, not followed).
    static func removeTree(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            if errno == ENOENT { return }
            throw CLIError("cannot stat \(path): errno \(errno)")
        }
        if st.st_mode & S_IFMT == S_IFDIR {
            if let dir = opendir(path) {
                var names: [String] = []
                while let ent = readdir(dir) {
                    let name = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                        String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                    }
                    if name != "." && name != ".." { names.append(name) }
                }
                closedir(dir)
                for n in names { try removeTree(path + "/" + n) }
            }
            guard rmdir(path) == 0 else { throw CLIError("cannot remove \(path): errno \(errno)") }
        } else {
            guard unlink(path) == 0 else { throw CLIError("cannot remove \(path): errno \(errno)") }
        }
    }

    /// `mkdir -p path`.
    static func makeDirectories(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            prefix += "/" + part
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw CLIError("cannot create \(prefix): errno \(errno)")
            }
        }
    }
}

/// A CLI failure outside the engine (files, arguments).
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
