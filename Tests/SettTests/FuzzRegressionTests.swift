import Foundation
import Testing
@testable import Sett

/// Replays fuzz inputs through the same entry points the libFuzzer driver uses
/// (`FuzzEntry`): every saved crash in Tests/SettTests/Fixtures/fuzz/<target>/ (each one
/// a bug that was fixed), the generated seeds, and cheap mutations of them. A trap here
/// fails the whole test process, which is the point. See docs/testing.md ("Fuzzing").
@Suite struct FuzzRegressionTests {
    static var fixtures: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/fuzz").path
    }

    @Test func savedCrashInputsNoLongerTrap() throws {
        var count = 0
        for target in FuzzEntry.targets {
            let dir = Self.fixtures + "/" + target
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
            for name in names.sorted() where !name.hasPrefix(".") {
                let bytes = try #require(FileManager.default.contents(atPath: dir + "/" + name))
                bytes.withUnsafeBytes { #expect(FuzzEntry.run(target, $0)) }
                count += 1
            }
        }
        print("fuzz regressions replayed: \(count)")
    }

    @Test func seedsAndTheirMutationsDecodeWithoutTrapping() {
        var rng = MetaRandom(seed: 20_260_101)
        for (target, seeds) in FuzzSeeds.all() {
            #expect(!seeds.isEmpty, "target \(target) has no seeds")
            for seed in seeds {
                seed.withUnsafeBytes { #expect(FuzzEntry.run(target, $0)) }
                // Flipped bytes, truncations and both modes.
                for _ in 0 ..< 40 {
                    var m = seed
                    if m.isEmpty { m = [0] }
                    for _ in 0 ..< 1 + rng.int(0 ..< 4) { m[rng.int(0 ..< m.count)] = UInt8(truncatingIfNeeded: rng.next()) }
                    if rng.chance(30) { m = Array(m.prefix(rng.int(0 ..< m.count + 1))) }
                    m.withUnsafeBytes { _ = FuzzEntry.run(target, $0) }
                }
            }
        }
    }

    @Test func everyTargetHasAnEntryPoint() {
        for t in FuzzEntry.targets { #expect([UInt8]().withUnsafeBytes { FuzzEntry.run(t, $0) }) }
        #expect(![UInt8]().withUnsafeBytes { FuzzEntry.run("no-such-target", $0) })
    }
}

extension FuzzRegressionTests {
    /// Fuzz find (table): a block trailer claiming a 4 GiB uncompressed length made the
    /// reader allocate 4 GiB before decompressing (with `.noVerification`, or a damaged
    /// but checksum-valid table). It is now `.corruption` naming the file and block.
    @Test func blockClaimingAHugeUncompressedLengthIsCorruptionNotAnAllocation() throws {
        let input = try #require(FileManager.default.contents(atPath: Self.fixtures + "/table/oom-block-claims-4GiB"))
        var file = Array(input.dropFirst())
        if input.first! & 1 == 1 { FuzzEntry.fixTableChecksums(&file) }
        let fs = FuzzEntry.makeFS(["000001.sst": file])
        let t = try Table.open(fs: fs, path: "/db/000001.sst", id: 1, checksumMode: .noVerification, cache: nil)
        var errors: [SettError] = []
        for i in 0 ..< t.index.blockCount {
            do { _ = try t.loadBlock(i) } catch { errors.append(error) }
        }
        #expect(errors.contains { $0.code == .corruption && $0.message.contains("does not fit") && $0.file == "/db/000001.sst" },
                "\(errors)")
    }
}
