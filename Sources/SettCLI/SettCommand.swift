import ArgumentParser

/// The `sett` command line.
public struct SettCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sett",
        abstract: "Sett: an LSM storage engine with key-value separation.",
        version: settVersion,
        subcommands: [DemoCommand.self, InfoCommand.self, GCCommand.self, BenchCommand.self, CrashWriterCommand.self, TortureWriterCommand.self,
                      LogShipChildCommand.self]
    )

    public init() {}
}
