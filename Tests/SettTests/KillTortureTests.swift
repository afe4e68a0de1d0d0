import Foundation
import SettCLI
import Testing
@testable import Sett

/// Kill torture: `sett torture-writer` runs random synced transactions from two threads
/// and is killed with SIGKILL at random moments, again and again on the same directory.
/// After every kill the database is reopened here and checked (`TortureVerifier`):
/// every acknowledged commit is present, no transaction is partial, iteration is clean.
///
/// CI mode: a few kills (seconds). Soak: SETT_KILL_MINUTES=<m> keeps killing until the
/// time is up (prints one summary line). See docs/testing.md ("Kill torture").
@Suite(.serialized) struct KillTortureTests {
    /// Acknowledged commits read from the child's output file (complete lines only).
    static func acks(_ path: String) -> [(ts: UInt64, tag: UInt64)] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        var text = String(decoding: data, as: UTF8.self)
        if !text.hasSuffix("\n"), let cut = text.lastIndex(of: "\n") { text = String(text[...cut]) }
        return text.split(separator: "\n").compactMap { line in
            let p = line.split(separator: " ")
            guard p.count == 3, p[0] == "ack", let ts = UInt64(p[1]), let tag = UInt64(p[2], radix: 16) else { return nil }
            return (ts, tag)
        }
    }

    /// Runs the writer for `delay` seconds, SIGKILLs it, returns its acks.
    static func runAndKill(binary: String, dir: String, delay: Double, seed: UInt64) throws -> [(ts: UInt64, tag: UInt64)] {
        let out = dir + ".out"
        FileManager.default.createFile(atPath: out, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: out) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["torture-writer", "--dir", dir, "--seed", "\(seed)", "--threads", "2"]
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        p.standardError = FileHandle.nullDevice
        try p.run()
        Thread.sleep(forTimeInterval: delay)
        kill(p.processIdentifier, SIGKILL)
        waitForExit(p)
        return acks(out)
    }

    @Test func sigkillAtRandomMomentsLosesNoAcknowledgedCommitAndLeavesNoPartialTransaction() throws {
        guard let binary = builtProduct("sett") else {
            Issue.record("the sett executable was not built beside the tests (run swift build first)")
            return
        }
        let env = ProcessInfo.processInfo.environment
        let minutes = Double(env["SETT_KILL_MINUTES"] ?? "") ?? 0
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = dir.path + "/db"
        var rng = SystemRandomNumberGenerator()
        var acked: [UInt64: UInt64] = [:]   // tag -> ts
        let started = Date()
        var kills = 0
        var failures = 0
        while minutes > 0 ? Date().timeIntervalSince(started) < minutes * 60 : kills < 4 {
            let delay = minutes > 0 ? Double.random(in: 0.05 ... 2.0, using: &rng) : Double.random(in: 0.3 ... 0.9, using: &rng)
            for a in try Self.runAndKill(binary: binary, dir: db, delay: delay, seed: rng.next() >> 1) { acked[a.tag] = a.ts }
            kills += 1
            let problems = try TortureVerifier.verify(dir: db, acked: acked)
            if !problems.isEmpty {
                failures += 1
                let report = "kill \(kills) (after \(String(format: "%.2f", delay))s): " + problems.prefix(10).joined(separator: "\n  ")
                print("KILL TORTURE FAILURE " + report)
                Issue.record("\(report)")
                break
            }
        }
        #expect(!acked.isEmpty, "the writer acknowledged nothing")
        print("kill torture: \(kills) kills, \(acked.count) acknowledged transactions verified, \(failures) failures, "
              + "\(Int(Date().timeIntervalSince(started)))s")
    }

    @Test func verifierCatchesALostWriteAndAPartialTransaction() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        // A good transaction, then a "partial" one (a tagged value without its marker).
        let options = Torture.options(dir: dir.path)
        let db = try DB.open(options)
        try db.update { txn in
            try txn.set(Torture.key(1), Torture.value(tag: 0xAB, key: Torture.key(1), size: 30))
            try txn.set(Torture.markerKey(0xAB), Array("+k001".utf8))
        }
        try db.update { try $0.set(Torture.key(2), Torture.value(tag: 0xCD, key: Torture.key(2), size: 30)) }
        try db.close()
        let problems = try TortureVerifier.verify(dir: dir.path, acked: [0xAB: 1, 0xEF: 3])
        #expect(problems.contains { $0.contains("k002") && $0.contains("no marker") }, "\(problems)")
        #expect(problems.contains { $0.contains("ef") && $0.contains("missing") }, "\(problems)")
    }
}

/// Checks a torture database against the acknowledged commits.
enum TortureVerifier {
    struct Newest {
        var version: UInt64
        var deleted: Bool
        var value: [UInt8]
    }

    /// Returns the problems found (empty = consistent).
    static func verify(dir: String, acked: [UInt64: UInt64]) throws -> [String] {
        var options = Torture.options(dir: dir)
        options.syncWrites = false
        let db = try DB.open(options)
        defer { try? db.close() }
        var problems: [String] = []
        func str(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

        // Newest version of every key (tombstones included), and a clean full scan.
        var newest: [[UInt8]: Newest] = [:]
        try db.view { txn in
            let it = txn.makeIterator(IteratorOptions(allVersions: true))
            it.rewind()
            while let item = it.item {
                if newest[item.key] == nil || newest[item.key]!.version < item.version {
                    newest[item.key] = Newest(version: item.version, deleted: item.isDeletedOrExpired,
                                              value: item.isDeletedOrExpired ? [] : try item.value())
                }
                it.next()
            }
            if let e = it.error { problems.append("all-versions iteration failed: \(e)") }
            let live = txn.makeIterator()
            live.rewind()
            var n = 0
            while let item = live.item {
                _ = try item.value()
                n += 1
                live.next()
            }
            if let e = live.error { problems.append("iteration failed after \(n) items: \(e)") }
        }

        // Markers: tag -> (version, writes).
        var markers: [UInt64: (version: UInt64, writes: [(key: [UInt8], isSet: Bool)])] = [:]
        var lastDelete: [[UInt8]: UInt64] = [:]
        let markerPrefix = Array("txn/".utf8)
        for (k, n) in newest where k.starts(with: markerPrefix) && !n.deleted {
            guard let tag = UInt64(str(Array(k.dropFirst(4))), radix: 16) else { continue }
            let writes = Torture.parseMarker(n.value)
            markers[tag] = (n.version, writes)
            for w in writes where !w.isSet { lastDelete[w.key] = max(lastDelete[w.key] ?? 0, n.version) }
        }

        // Every acknowledged commit is there, at its timestamp.
        let maxAcked = acked.values.max() ?? 0
        if db.maxVersion < maxAcked { problems.append("maxVersion \(db.maxVersion) below acknowledged \(maxAcked)") }
        for (tag, ts) in acked.sorted(by: { $0.value < $1.value }) {
            guard let m = markers[tag] else {
                problems.append("acknowledged txn \(String(tag, radix: 16)) at ts \(ts): marker missing")
                continue
            }
            if m.version != ts { problems.append("txn \(String(tag, radix: 16)): marker at ts \(m.version), acked \(ts)") }
        }
        // Every transaction present is whole: each of its writes is there or superseded.
        for (tag, m) in markers {
            for w in m.writes {
                guard let n = newest[w.key] else {
                    if (lastDelete[w.key] ?? 0) < m.version {
                        problems.append("txn \(String(tag, radix: 16)) at \(m.version): \(str(w.key)) has no version at all")
                    }
                    continue
                }
                if n.version < m.version {
                    problems.append("txn \(String(tag, radix: 16)) at \(m.version): \(str(w.key)) newest version is \(n.version)")
                } else if n.version == m.version {
                    if w.isSet && (n.deleted || Torture.tag(of: n.value) != tag) {
                        problems.append("txn \(String(tag, radix: 16)) at \(m.version): \(str(w.key)) holds another value")
                    }
                    if !w.isSet && !n.deleted {
                        problems.append("txn \(String(tag, radix: 16)) at \(m.version): \(str(w.key)) not deleted")
                    }
                }
            }
        }
        // Every value belongs to a transaction whose marker is there (none is partial).
        for (k, n) in newest where !k.starts(with: markerPrefix) && !n.deleted {
            guard let tag = Torture.tag(of: n.value) else {
                problems.append("\(str(k)) at \(n.version): value without a tag")
                continue
            }
            guard let m = markers[tag] else {
                problems.append("\(str(k)) at \(n.version): written by txn \(String(tag, radix: 16)), which has no marker")
                continue
            }
            if m.version != n.version || !m.writes.contains(where: { $0.key == k && $0.isSet }) {
                problems.append("\(str(k)) at \(n.version): txn \(String(tag, radix: 16)) marker at \(m.version) does not list it")
            }
            if n.value != Torture.value(tag: tag, key: k, size: n.value.count) {
                problems.append("\(str(k)) at \(n.version): value bytes damaged")
            }
        }
        return problems
    }
}
