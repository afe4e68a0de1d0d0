import Glibc
import Testing
@testable import Sett

/// A unique lock-file path in its own directory under /tmp; `remove()` deletes both.
private struct LockTempDir {
    let dir: String
    var lockPath: String { joinPath(dir, "LOCK") }

    init() {
        var template = Array("/tmp/sett-lock-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        dir = String(cString: p!)
    }

    func remove() {
        unlink(lockPath)
        rmdir(dir)
    }
}

@Suite struct DirectoryLockTests {
    let fs = PosixFileSystem.shared

    @Test func secondExclusiveLockInSameProcessFailsWithLocked() throws {
        let tmp = LockTempDir()
        defer { tmp.remove() }
        let first = try fs.lock(tmp.lockPath, exclusive: true)
        let e = try #require(throws: SettError.self) { try fs.lock(tmp.lockPath, exclusive: true) }
        #expect(e.code == .locked)
        #expect(e.file == tmp.lockPath)
        // A shared lock conflicts with the exclusive one too.
        let e2 = try #require(throws: SettError.self) { try fs.lock(tmp.lockPath, exclusive: false) }
        #expect(e2.code == .locked)
        first.release()
    }

    @Test func sharedLocksCoexist() throws {
        let tmp = LockTempDir()
        defer { tmp.remove() }
        let a = try fs.lock(tmp.lockPath, exclusive: false)
        let b = try fs.lock(tmp.lockPath, exclusive: false)
        let c = try fs.lock(tmp.lockPath, exclusive: false)
        a.release()
        b.release()
        c.release()
    }

    @Test func sharedThenExclusiveFails() throws {
        let tmp = LockTempDir()
        defer { tmp.remove() }
        let a = try fs.lock(tmp.lockPath, exclusive: false)
        let b = try fs.lock(tmp.lockPath, exclusive: false)
        var e = try #require(throws: SettError.self) { try fs.lock(tmp.lockPath, exclusive: true) }
        #expect(e.code == .locked)
        // Still refused while any shared holder remains.
        a.release()
        e = try #require(throws: SettError.self) { try fs.lock(tmp.lockPath, exclusive: true) }
        #expect(e.code == .locked)
        b.release()
        let x = try fs.lock(tmp.lockPath, exclusive: true)
        x.release()
    }

    @Test func lockCanBeTakenAgainAfterRelease() throws {
        let tmp = LockTempDir()
        defer { tmp.remove() }
        for _ in 0 ..< 3 {
            let x = try fs.lock(tmp.lockPath, exclusive: true)
            #expect(throws: SettError.self) { try fs.lock(tmp.lockPath, exclusive: true) }
            x.release()
            x.release()   // releasing twice is harmless
            let s = try fs.lock(tmp.lockPath, exclusive: false)
            s.release()
        }
        // Dropping the last reference releases it as well.
        do { _ = try fs.lock(tmp.lockPath, exclusive: true) }
        let again = try fs.lock(tmp.lockPath, exclusive: true)
        again.release()
    }

    @Test func exclusiveHolderRecordsItsPid() throws {
        let tmp = LockTempDir()
        defer { tmp.remove() }
        let x = try fs.lock(tmp.lockPath, exclusive: true)
        defer { x.release() }
        let f = try fs.open(tmp.lockPath, .readOnly)
        defer { f.close() }
        let text = String(decoding: try f.readExactly(Int(try f.size()), at: 0), as: UTF8.self)
        #expect(text == "\(getpid())\n")
    }

    @Test func lockRefusedWhileTraditionalRecordLockHeld() throws {
        // Another program holding a classic POSIX record lock (fcntl F_SETLK) on the file
        // must keep us out: OFD locks conflict with record locks. Taken in this process
        // (they conflict even then), as a fork would duplicate other tests' lock descriptors.
        let tmp = LockTempDir()
        defer { tmp.remove() }
        let fd = open(tmp.lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        #expect(fd >= 0)
        var fl = flock()
        fl.l_type = Int16(F_WRLCK)
        fl.l_whence = Int16(SEEK_SET)
        #expect(fcntl(fd, F_SETLK, &fl) == 0)
        let e = try #require(throws: SettError.self) { try fs.lock(tmp.lockPath, exclusive: false) }
        #expect(e.code == .locked)
        close(fd)
        let x = try fs.lock(tmp.lockPath, exclusive: true)
        x.release()
    }
}
