import ArgumentParser
import Sett

/// `sett info --dir DIR`: opens a database read-only and prints its stats
/// (and, with `--count`, the number of live keys).
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Open a database read-only and print its stats."
    )

    @Option(name: .long, help: "Data directory.")
    var dir: String

    @Flag(name: .long, help: "Also iterate and count the live keys.")
    var count = false

    init() {}

    func run() throws {
        var options = Options(dir: dir)
        options.readOnly = true
        options.logger.logLevel = .warning
        let db = try DB.open(options)
        print("database: \(dir)")
        print(db.stats())
        if count {
            let it = db.makeIterator()
            var n = 0, keyBytes = 0
            it.rewind()
            while it.valid {
                n += 1
                keyBytes += it.withKey { $0.count }
                it.next()
            }
            if let e = it.error { throw e }
            print("live keys: \(n) (\(keyBytes) B of keys)")
        }
        try db.close()
    }
}
