import ArgumentParser
import Sett

/// `sett gc --dir DIR`: opens a database (not in use by another process) and runs
/// value-log GC until no file is stale enough, printing what each pass removed.
struct GCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Run value-log garbage collection on a database that no other process has open."
    )

    @Option(name: .long, help: "Data directory.")
    var dir: String

    @Option(name: .long, help: "Collect files at least this stale (0 < ratio < 1).")
    var ratio: Double = 0.5

    @Option(name: .customLong("max-files"), help: "Stop after removing this many files.")
    var maxFiles: Int = 1000

    @Flag(name: .long, help: "Compact everything first, so discard statistics are current.")
    var flatten = false

    init() {}

    func validate() throws {
        guard ratio > 0 && ratio < 1 else { throw ValidationError("--ratio must be in (0, 1)") }
        guard maxFiles >= 1 else { throw ValidationError("--max-files must be at least 1") }
    }

    func run() throws {
        var options = Options(dir: dir)
        options.logger.logLevel = .warning
        let db = try DB.open(options)
        defer { try? db.close() }
        let before = db.stats()
        if flatten { try db.flatten() }
        var removed = 0
        while removed < maxFiles, let r = try db.runValueLogGC(discardRatio: ratio) {
            removed += 1
            print("removed value-log file \(r.fileId) (\(r.fileBytes) B): moved \(r.movedEntries) entries "
                + "(\(r.movedBytes) B), dropped \(r.droppedEntries)")
        }
        let after = db.stats()
        print("value log: \(before.valueLogFiles) files, \(before.valueLogBytes) B -> \(after.valueLogFiles) files, "
            + "\(after.valueLogBytes) B; \(removed) removed")
        try db.close()
    }
}
