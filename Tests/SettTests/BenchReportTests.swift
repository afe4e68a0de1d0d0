import Foundation
import Testing
@testable import SettCLI

/// The output lines shared/bench/compare parses.
@Suite struct BenchReportTests {
    static let fill = BenchResult(name: "fillrandom", ops: 157_022, seconds: 1.0, threads: 1, bytes: 11_534_336)

    @Test func dbBenchLineMatchesTheReadmeExample() {
        #expect(Self.fill.dbBenchLine == "fillrandom   :       6.369 micros/op 157022 ops/sec;   11.0 MB/s")
        #expect(Self.fill.foundLine == nil)
    }

    @Test func readsReportPerThreadMicrosAndFound() {
        var r = BenchResult(name: "readrandom", ops: 400_000, seconds: 2.0, threads: 2, bytes: 0)
        r.found = 250_000
        r.requested = 400_000
        #expect(r.dbBenchLine == "readrandom   :      10.000 micros/op 200000 ops/sec;    0.0 MB/s")
        #expect(r.foundLine == "(found 250000 of 400000)")
    }

    @Test func longNamesAreNotTruncated() {
        let r = BenchResult(name: "readwhilewriting", ops: 10, seconds: 0.001, threads: 1, bytes: 0)
        #expect(r.dbBenchLine.hasPrefix("readwhilewriting :     100.000 micros/op 10000 ops/sec;"))
    }

    @Test func resultLineIsJSONWithEveryField() throws {
        var r = Self.fill
        r.p50us = 4.5
        r.p99us = 12.25
        r.dbBytesOnDisk = 123_456
        r.peakRSSKB = 7890
        let line = r.resultLine
        #expect(line.hasPrefix("RESULT {\"name\":\"fillrandom\","))
        let obj = try #require(
            try JSONSerialization.jsonObject(with: Data(line.dropFirst(7).utf8)) as? [String: Any])
        #expect(obj["name"] as? String == "fillrandom")
        #expect(obj["ops"] as? Int == 157_022)
        #expect((obj["ops_per_sec"] as? Double).map { abs($0 - 157_022) < 0.01 } == true)
        #expect((obj["mb_per_sec"] as? Double).map { abs($0 - 11.0) < 1e-9 } == true)
        #expect(obj["found"] is NSNull)
        #expect(obj["p50_us"] as? Double == 4.5 && obj["p99_us"] as? Double == 12.25)
        #expect(obj["db_bytes_on_disk"] as? Int == 123_456 && obj["peak_rss_kb"] as? Int == 7890)
        #expect(obj["seconds"] != nil)
    }

    @Test func emptyBenchmarkGivesZerosNotNaN() throws {
        var r = BenchResult(name: "readseq", ops: 0, seconds: 0, threads: 1, bytes: 0)
        r.found = 0
        #expect(r.dbBenchLine == "readseq      :       0.000 micros/op 0 ops/sec;    0.0 MB/s")
        #expect(try JSONSerialization.jsonObject(with: Data(r.resultLine.dropFirst(7).utf8)) is [String: Any])
    }

    @Test func fixedFormattingRoundsLikePrintf() {
        #expect(BenchFormat.fixed(6.3685, width: 11, decimals: 3) == "      6.369")
        #expect(BenchFormat.fixed(0.05, width: 6, decimals: 1) == "   0.1")
        #expect(BenchFormat.fixed(1234.5, width: 3, decimals: 0) == "1235")
        #expect(BenchFormat.fixed(-2.5, width: 0, decimals: 2) == "-2.50")
    }

    @Test func diskBytesSumFilesRecursively() throws {
        let dir = "/tmp/sett-cli-test-\(getpid())-\(UInt64.random(in: 0 ... .max))"
        defer { try? CLIFiles.removeTree(dir) }
        try CLIFiles.makeDirectories(dir + "/a/b")
        FileManager.default.createFile(atPath: dir + "/x", contents: Data(count: 100))
        FileManager.default.createFile(atPath: dir + "/a/b/y", contents: Data(count: 23))
        #expect(CLIFiles.bytesOnDisk(dir) == 123)
        try CLIFiles.removeTree(dir)
        #expect(!FileManager.default.fileExists(atPath: dir))
        #expect(CLIFiles.bytesOnDisk(dir) == 0)
        try CLIFiles.removeTree(dir)  // absent: no error
    }

    @Test func peakRSSIsReported() {
        #expect(BenchSystem.peakRSSKB() > 1000)
    }
}
