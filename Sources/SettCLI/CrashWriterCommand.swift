import ArgumentParser
import Sett
#if canImport(Glibc)
import Glibc
#endif

/// A child process for crash tests: writes synced batches forever (or `--batches`),
/// printing `ack V` after each acknowledged write, until it is killed.
/// Batch V holds keys `b<V>-<j>` (j < 10) with `CrashWriter.value(V, j)` and sets
/// `counter` to V; every third batch carries value-log-sized values.
struct CrashWriterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crash-writer", abstract: "Test helper: synced writes until killed.", shouldDisplay: false)

    @Option(help: "Database directory.") var dir: String
    @Option(help: "Stop after this many batches (0 = never).") var batches: Int = 0

    func run() throws {
        var options = Options(dir: dir)
        options.syncWrites = true
        options.managedMode = true  // each batch at a known version, written with DB.write
        options.memTableSize = 256 << 10
        options.baseTableSize = 64 << 10
        options.baseLevelSize = 256 << 10
        options.numLevelZeroTables = 2
        options.valueThreshold = 128
        options.logger.logLevel = .error
        let db = try DB.open(options)
        var version = db.maxVersion + 1
        var written = 0
        while batches == 0 || written < batches {
            var batch = EntryBatch()
            for j in 0 ..< 10 {
                batch.set(Array("b\(version)-\(j)".utf8), CrashWriter.value(version, j), version: version)
            }
            batch.set(Array("counter".utf8), Array("\(version)".utf8), version: version)
            try db.write(batch)
            print("ack \(version)")
            fflush(nil)
            version += 1
            written += 1
        }
        try db.close()
    }
}

public enum CrashWriter {
    /// The deterministic value of entry `j` of batch `version`.
    public static func value(_ version: UInt64, _ j: Int) -> [UInt8] {
        let size = version % 3 == 0 ? 300 : 24
        let seed = Array("v\(version)-\(j)|".utf8)
        return (0 ..< size).map { seed[$0 % seed.count] }
    }
}
