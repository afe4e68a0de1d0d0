import Foundation
import Testing
@testable import Sett

/// Real processes killed with SIGKILL in the middle of synced writes.
@Suite struct CrashRecoveryTests {
    static func expectedValue(_ version: UInt64, _ j: Int) -> [UInt8] {
        let size = version % 3 == 0 ? 300 : 24
        let seed = Array("v\(version)-\(j)|".utf8)
        return (0 ..< size).map { seed[$0 % seed.count] }
    }

    /// Runs the crash writer, kills it after `delay`, and returns the highest acked version.
    static func runAndKill(binary: String, dir: String, delay: Double) throws -> UInt64 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["crash-writer", "--dir", dir]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        try p.run()
        Thread.sleep(forTimeInterval: delay)
        kill(p.processIdentifier, SIGKILL)
        waitForExit(p)
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return out.split(separator: "\n").compactMap { line in
            line.hasPrefix("ack ") ? UInt64(line.dropFirst(4)) : nil
        }.max() ?? 0
    }

    @Test func sigkillMidWriteLosesNothingAcknowledgedAndNoBatchIsPartial() throws {
        guard let binary = builtProduct("sett") else {
            Issue.record("the sett executable was not built beside the tests (run swift build first)")
            return
        }
        let dir = TempDir()
        defer { dir.cleanup() }
        var rng = SystemRandomNumberGenerator()
        var lastAcked: UInt64 = 0
        for round in 0 ..< 4 {
            let acked = try Self.runAndKill(binary: binary, dir: dir.path, delay: Double.random(in: 0.4 ... 1.2, using: &rng))
            lastAcked = max(lastAcked, acked)
            var options = smallOptions(dir.path)
            options.valueThreshold = 128
            let db = try DB.open(options)
            let maxVersion = db.maxVersion
            #expect(maxVersion >= lastAcked, "round \(round): acked \(lastAcked) but recovered only up to \(maxVersion)")
            // Every batch up to the recovered maximum is whole.
            for v in UInt64(1) ... max(1, maxVersion) {
                for j in 0 ..< 10 {
                    let got = try db.get(Array("b\(v)-\(j)".utf8))
                    #expect(got?.value == Self.expectedValue(v, j), "round \(round): batch \(v) entry \(j)")
                    #expect(got?.version == v)
                }
            }
            // Nothing beyond it exists, even partially.
            for j in 0 ..< 10 { #expect(try db.get(Array("b\(maxVersion + 1)-\(j)".utf8)) == nil) }
            #expect(try db.get(Array("counter".utf8))?.value == Array("\(maxVersion)".utf8))
            try db.close()
            lastAcked = maxVersion
        }
        #expect(lastAcked > 0, "the writer acknowledged nothing")
    }

    @Test func directoryHeldByAnotherProcessCannotBeOpened() throws {
        guard let binary = builtProduct("sett") else {
            Issue.record("the sett executable was not built beside the tests (run swift build first)")
            return
        }
        let dir = TempDir()
        defer { dir.cleanup() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["crash-writer", "--dir", dir.path]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer {
            kill(p.processIdentifier, SIGKILL)
            waitForExit(p)
        }
        // Wait until the child has opened the database (its LOCK file names its pid).
        var pidWritten = false
        for _ in 0 ..< 100 where !pidWritten {
            if let s = try? String(contentsOfFile: dir.file("LOCK"), encoding: .utf8), s.hasPrefix("\(p.processIdentifier)") {
                pidWritten = true
            } else {
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        #expect(pidWritten)
        #expect {
            _ = try DB.open(smallOptions(dir.path))
        } throws: { ($0 as? SettError)?.code == .locked }
        var ro = smallOptions(dir.path)
        ro.readOnly = true
        #expect { _ = try DB.open(ro) } throws: { ($0 as? SettError)?.code == .locked }
    }
}
