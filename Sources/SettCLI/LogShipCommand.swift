import ArgumentParser
import Sett
#if canImport(Glibc)
import Glibc
#endif

/// Log shipping without a network: a follower database applies a primary's commit feed
/// at the primary's versions and records its position inside each applied batch.
public enum LogShip {
    /// Where the follower records the last applied commit timestamp (decimal text, at
    /// that version, in the same batch as the entries, so it is exactly as durable).
    public static let appliedKey = Array("!sett!applied".utf8)

    /// The last commit timestamp applied to `follower` (0 when none).
    public static func appliedPosition(_ follower: DB) throws -> UInt64 {
        guard let v = try follower.get(appliedKey) else { return 0 }
        return UInt64(String(decoding: v.value, as: UTF8.self)) ?? 0
    }

    /// Applies `batch` to `follower` at its own versions, together with the position.
    public static func apply(_ batch: CommittedBatch, to follower: DB) throws {
        var b = batch.makeEntryBatch()
        b.set(appliedKey, Array("\(batch.commitTs)".utf8), version: batch.commitTs)
        try follower.write(b)
    }
}

/// A child process for log-shipping tests: opens the primary read-only, resumes the
/// follower from its recorded position and applies the primary's feed until the
/// follower holds the primary's newest version, printing `applied TS` after each batch.
struct LogShipChildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log-ship-child", abstract: "Test helper: replay a primary's commit feed into a follower.",
        shouldDisplay: false)

    @Option(help: "The primary's directory (opened read-only).") var primaryDir: String
    @Option(help: "The follower's directory.") var dir: String
    @Option(help: "Milliseconds to sleep after each applied batch.") var delayMs: Int = 0

    func run() throws {
        var po = Options(dir: primaryDir)
        po.readOnly = true
        po.managedMode = true
        po.logger.logLevel = .error
        let primary = try DB.open(po)
        var fo = Options(dir: dir)
        fo.managedMode = true
        fo.memTableSize = 1 << 16
        fo.valueThreshold = 256
        fo.logger.logLevel = .error
        let follower = try DB.open(fo)
        var position = try LogShip.appliedPosition(follower)
        let target = primary.maxVersion
        let reader = try primary.makeFeedReader(from: position + 1)
        while position < target {
            guard let batch = try reader.next(timeout: 5) else {
                throw ValidationError("feed stalled at \(position) before \(target)")
            }
            try LogShip.apply(batch, to: follower)
            position = batch.commitTs
            print("applied \(position)")
            fflush(nil)
            if delayMs > 0 { usleep(UInt32(delayMs) * 1000) }
        }
        reader.close()
        try follower.close()
        try primary.close()
    }
}
