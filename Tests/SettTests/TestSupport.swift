import Foundation
@testable import Sett

/// A fresh directory under the system temp dir, removed by `cleanup()`.
struct TempDir {
    let path: String

    init(_ name: String = #function) {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        path = NSTemporaryDirectory() + "sett-\(safe)-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
    func remove() { cleanup() }

    func file(_ name: String) -> String { path + "/" + name }
}

/// Options with small sizes so tests exercise flushes and compactions quickly.
/// `managed` (the default, for tests writing versioned `EntryBatch`es) opens in
/// managed mode; transaction tests pass false.
func smallOptions(_ dir: String, managed: Bool = true) -> Options {
    var o = Options(dir: dir)
    o.managedMode = managed
    o.memTableSize = 256 << 10
    o.baseTableSize = 64 << 10
    o.baseLevelSize = 256 << 10
    o.numLevelZeroTables = 2
    o.numLevelZeroTablesStall = 6
    o.blockSize = 1 << 10
    o.valueThreshold = 256
    o.numCompactors = 2
    o.blockCacheSize = 1 << 20
    o.logger.logLevel = .warning
    return o
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// Runs `body(txn, i)` for every i in `range`, `perTxn` of them to one update transaction.
func updateInBatches(_ db: DB, _ range: Range<Int>, perTxn: Int, _ body: (Txn, Int) throws -> Void) throws {
    for start in stride(from: range.lowerBound, to: range.upperBound, by: perTxn) {
        try db.update { txn in
            for i in start ..< min(start + perTxn, range.upperBound) { try body(txn, i) }
        }
    }
}

/// Every item an iterator with `options` yields in one read transaction, and the
/// iterator's error at the end.
func iterateAll(_ db: DB, _ options: IteratorOptions = IteratorOptions()) throws -> (items: [Item], error: SettError?) {
    try db.view { txn in
        let it = txn.makeIterator(options)
        it.rewind()
        var out: [Item] = []
        while let item = it.item {
            out.append(item)
            it.next()
        }
        return (out, it.error)
    }
}

func key(_ i: Int) -> [UInt8] { Array(String(format: "key%08d", i).utf8) }

/// A deterministic value of `size` bytes for key index `i` and version `v`.
func value(_ i: Int, version v: UInt64, size: Int = 20) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(size)
    var x = UInt64(truncatingIfNeeded: i) &* 0x9E37_79B9_7F4A_7C15 ^ v
    for _ in 0 ..< size {
        x = x &* 6364136223846793005 &+ 1442695040888963407
        out.append(UInt8(33 + (x >> 33) % 90))
    }
    return out
}

/// Finds a product built beside the test bundle (e.g. the `sett` executable).
func builtProduct(_ name: String) -> String? {
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0 ..< 4 {
        let candidate = dir.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return nil
}

/// An in-memory database in managed mode (for tests writing versioned batches).
func managedInMemory() -> Options {
    var o = Options.inMemory()
    o.managedMode = true
    return o
}

/// Waits for a child started with `Process` to exit and returns its exit status (nil
/// if killed by a signal or still running after `timeout`). Polls instead of calling
/// `Process.waitUntilExit()`, which on Linux was seen to hang forever after thousands
/// of SIGKILLed children (the termination was missed); a child Foundation has not
/// reaped yet is reaped here with `waitpid`.
@discardableResult
func waitForExit(_ p: Process, timeout: Double = 120) -> Int32? {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if !p.isRunning { return p.terminationReason == .exit ? p.terminationStatus : nil }
        var status: Int32 = 0
        let r = waitpid(p.processIdentifier, &status, WNOHANG)
        if r == p.processIdentifier {
            // Exited normally: WIFEXITED / WEXITSTATUS by hand (the C macros are not imported).
            return status & 0x7F == 0 ? (status >> 8) & 0xFF : nil
        }
        usleep(5000)
    }
    return nil
}
