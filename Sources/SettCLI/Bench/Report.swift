#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What one benchmark measured, and how `sett bench` prints it: a db_bench line right
/// after the benchmark, and a `RESULT {json}` line after all of them.
struct BenchResult: Sendable, Equatable {
    var name: String
    var ops: Int
    var seconds: Double
    /// Threads whose ops are counted (readers for reads, 1 otherwise).
    var threads: Int
    /// Key + value bytes written or read.
    var bytes: Int
    /// For reads: keys found, and ops requested (reads × threads).
    var found: Int?
    var requested: Int = 0
    var p50us: Double = 0
    var p99us: Double = 0
    var dbBytesOnDisk: Int = 0
    var peakRSSKB: Int = 0

    var opsPerSec: Double { ops > 0 && seconds > 0 ? Double(ops) / seconds : 0 }
    var mbPerSec: Double { ops > 0 && seconds > 0 ? Double(bytes) / 1_048_576 / seconds : 0 }
    /// Per-thread latency, as db_bench reports it.
    var microsPerOp: Double { ops > 0 ? seconds * 1e6 * Double(threads) / Double(ops) : 0 }

    /// `fillrandom   :       6.369 micros/op 157022 ops/sec;   11.0 MB/s`
    var dbBenchLine: String {
        let padded = name.count >= 12 ? name : name + String(repeating: " ", count: 12 - name.count)
        return "\(padded) : \(BenchFormat.fixed(microsPerOp, width: 11, decimals: 3)) micros/op "
            + "\(Int(opsPerSec)) ops/sec; \(BenchFormat.fixed(mbPerSec, width: 6, decimals: 1)) MB/s"
    }

    /// `(found F of R)` for reads, nil otherwise.
    var foundLine: String? { found.map { "(found \($0) of \(requested))" } }

    /// `RESULT {...}` with the fields `compare` reads, in a fixed order.
    var resultLine: String {
        let fields: [(String, String)] = [
            ("name", "\"\(name)\""),
            ("ops", "\(ops)"),
            ("seconds", BenchFormat.json(seconds)),
            ("ops_per_sec", BenchFormat.json(opsPerSec)),
            ("mb_per_sec", BenchFormat.json(mbPerSec)),
            ("found", found.map { "\($0)" } ?? "null"),
            ("p50_us", BenchFormat.json(p50us)),
            ("p99_us", BenchFormat.json(p99us)),
            ("db_bytes_on_disk", "\(dbBytesOnDisk)"),
            ("peak_rss_kb", "\(peakRSSKB)"),
        ]
        return "RESULT {" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }
}

/// Number formatting without Foundation.
enum BenchFormat {
    /// Like printf `%W.Df` for finite, non-negative-or-negative values of sane size.
    static func fixed(_ x: Double, width: Int, decimals: Int) -> String {
        guard x.isFinite else { return pad("nan", width) }
        var scale = 1.0
        for _ in 0 ..< decimals { scale *= 10 }
        let negative = x < 0
        let scaled = (abs(x) * scale).rounded()
        guard scaled < 9.0e18 else { return pad(String(x), width) }
        let n = UInt64(scaled)
        let p = UInt64(scale)
        var s = String(n / p)
        if decimals > 0 {
            let frac = String(n % p)
            s += "." + String(repeating: "0", count: decimals - frac.count) + frac
        }
        return pad((negative ? "-" : "") + s, width)
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }

    /// A JSON number (never nan/inf, which JSON lacks).
    static func json(_ x: Double) -> String {
        guard x.isFinite else { return "0" }
        return x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : String(x)
    }
}

/// Clock and memory readings for the report.
enum BenchSystem {
    /// CLOCK_MONOTONIC in nanoseconds.
    @inline(__always)
    static func nanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Peak resident set of this process in KiB (getrusage ru_maxrss).
    static func peakRSSKB() -> Int {
        var ru = rusage()
        #if canImport(Glibc)
        guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &ru) == 0 else { return 0 }
        return Int(ru.ru_maxrss)  // KiB on Linux
        #else
        guard getrusage(RUSAGE_SELF, &ru) == 0 else { return 0 }
        return Int(ru.ru_maxrss) / 1024  // bytes on Darwin
        #endif
    }
}
