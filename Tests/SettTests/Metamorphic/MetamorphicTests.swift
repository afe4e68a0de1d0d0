import Foundation
import Testing
@testable import Sett

/// Runs seeded op sequences under every `MetaConfig.all` option set and the in-memory
/// model, and requires identical transcripts. See docs/testing.md ("Metamorphic tests").
///
/// Environment:
/// - SETT_META_SEED=<n>      replay exactly this seed (all configs), shrink on failure
/// - SETT_META_SEEDS=<n>     number of seeds in CI mode (default 4)
/// - SETT_META_OPS=<n>       ops per sequence (default 200)
/// - SETT_META_CONFIGS=a,b   only these configurations (names in `MetaConfig.all`)
/// - SETT_META_MINUTES=<m>   soak: new random seeds until the time is up
@Suite(.serialized) struct MetamorphicTests {
    struct Divergence: Error, CustomStringConvertible {
        var config: String
        var line: Int
        var op: String
        var expected: String
        var got: String
        var description: String {
            "config \(config): transcript line \(line) (op \(op))\n  model:  \(expected)\n  config: \(got)"
        }
    }

    static var env: [String: String] { ProcessInfo.processInfo.environment }

    /// Runs `ops` against `target`; transcript lines carry the op index. An error thrown
    /// by an op becomes a line (and the run goes on).
    static func transcript(_ ops: [MetaOp], _ target: any MetaTarget) -> [(op: Int, line: String)] {
        var out: [(Int, String)] = []
        for (i, op) in ops.enumerated() {
            do {
                for l in try target.run(op) { out.append((i, l)) }
            } catch {
                out.append((i, "error: \(error)"))
            }
        }
        return out
    }

    /// Runs `ops` on the model and on `config`; returns the first difference.
    static func check(_ ops: [MetaOp], _ config: MetaConfig) throws -> Divergence? {
        let model = MetaModel()
        let expected = transcript(ops, model)
        let target = try MetaDBTarget(config)
        defer { target.close() }
        let got = transcript(ops, target)
        for i in 0 ..< max(expected.count, got.count) {
            let e = i < expected.count ? expected[i] : nil
            let g = i < got.count ? got[i] : nil
            if e?.line != g?.line || e?.op != g?.op {
                let opIndex = (e ?? g)!.op
                return Divergence(config: config.name, line: i, op: "#\(opIndex) \(ops[opIndex])",
                                  expected: e.map { "#\($0.op) \($0.line)" } ?? "<end>",
                                  got: g.map { "#\($0.op) \($0.line)" } ?? "<end>")
            }
        }
        return nil
    }

    /// Drops ops (halving chunks down to single ops, then single txn steps) while
    /// `fails` still holds. Bounded to `budget` calls of `fails`.
    static func shrink(_ ops: [MetaOp], budget: Int = 400, fails: ([MetaOp]) -> Bool) -> [MetaOp] {
        var best = ops
        var runs = 0
        func still(_ candidate: [MetaOp]) -> Bool {
            runs += 1
            return fails(candidate)
        }
        var chunk = max(1, best.count / 2)
        while runs < budget {
            var i = 0
            while i < best.count && runs < budget {
                var candidate = best
                candidate.removeSubrange(i ..< min(best.count, i + chunk))
                if !candidate.isEmpty && still(candidate) { best = candidate } else { i += chunk }
            }
            if chunk == 1 { break }
            chunk /= 2
        }
        for i in best.indices where runs < budget {
            guard case .txn(var steps) = best[i] else { continue }
            var j = 0
            while j < steps.count && runs < budget {
                var s = steps
                s.remove(at: j)
                var candidate = best
                candidate[i] = .txn(s)
                if s.contains(where: \.isWrite) && still(candidate) {
                    steps = s
                    best = candidate
                } else {
                    j += 1
                }
            }
        }
        return best
    }

    static func shrink(_ ops: [MetaOp], _ config: MetaConfig) -> [MetaOp] {
        shrink(ops) { candidate in ((try? check(candidate, config)) ?? nil) != nil }
    }

    static func configs() -> [MetaConfig] {
        guard let filter = env["SETT_META_CONFIGS"] else { return MetaConfig.all }
        let names = Set(filter.split(separator: ",").map(String.init))
        return MetaConfig.all.filter { names.contains($0.name) }
    }

    /// Runs one seed under every config; on divergence, shrinks and reports.
    static func runSeed(_ seed: UInt64, opCount: Int) -> String? {
        var gen = MetaGenerator(seed: seed)
        let ops = gen.ops(opCount)
        for config in configs() {
            let d: Divergence?
            do { d = try check(ops, config) } catch {
                return "seed \(seed): config \(config.name) could not run: \(error)"
            }
            guard let d else { continue }
            let minimal = shrink(ops, config)
            let after = (try? check(minimal, config)) ?? nil
            var report = "METAMORPHIC FAILURE seed \(seed) (replay: SETT_META_SEED=\(seed) SETT_META_OPS=\(opCount) "
                + "swift test --filter MetamorphicTests)\n\(d)\n"
            report += "minimal sequence (\(minimal.count) of \(ops.count) ops):\n"
            for (i, op) in minimal.enumerated() { report += "  #\(i) \(op)\n" }
            if let after { report += "minimal divergence: \(after)\n" }
            return report
        }
        return nil
    }

    @Test func optionSetsAndModelAgreeOnSeededSequences() throws {
        let opCount = Int(Self.env["SETT_META_OPS"] ?? "") ?? 200
        if let s = Self.env["SETT_META_SEED"], let seed = UInt64(s) {
            if let failure = Self.runSeed(seed, opCount: opCount) {
                print(failure)
                Issue.record("\(failure)")
            } else {
                print("metamorphic: seed \(seed) passed under \(Self.configs().count) configs")
            }
            return
        }
        let minutes = Double(Self.env["SETT_META_MINUTES"] ?? "") ?? 0
        let started = Date()
        var seeds: [UInt64] = minutes > 0 ? [] : [1, 2, 3, 4, 5, 6, 7, 8].prefix(Int(Self.env["SETT_META_SEEDS"] ?? "") ?? 4).map { $0 }
        var rng = SystemRandomNumberGenerator()
        var ran = 0
        var failures = 0
        while true {
            let seed: UInt64
            if minutes > 0 {
                if Date().timeIntervalSince(started) > minutes * 60 { break }
                seed = rng.next() >> 1
            } else {
                guard !seeds.isEmpty else { break }
                seed = seeds.removeFirst()
            }
            ran += 1
            if let failure = Self.runSeed(seed, opCount: opCount) {
                failures += 1
                print(failure)
                Issue.record("\(failure)")
                if minutes == 0 { break }
            }
        }
        print("metamorphic: \(ran) seeds x \(Self.configs().count) configs x \(opCount) ops, \(failures) failures, "
              + "\(Int(Date().timeIntervalSince(started)))s")
    }

    @Test func generatorIsDeterministicInTheSeed() {
        var a = MetaGenerator(seed: 99)
        var b = MetaGenerator(seed: 99)
        #expect(a.ops(50).map(\.description) == b.ops(50).map(\.description))
    }

    @Test func shrinkerFindsTheOpThatBreaksAFakeTarget() throws {
        // A target that misreports one key after it was deleted: the shrinker must keep
        // only the ops needed to show it (a write, the delete, a read).
        final class Broken: MetaTarget {
            let model = MetaModel()
            func run(_ op: MetaOp) throws -> [String] {
                var lines = try model.run(op)
                if case .get("k05") = op, model.data["k05"]?.last?.value == nil, model.data["k05"] != nil {
                    lines = ["get k05 -> stale"]
                }
                return lines
            }
            func close() {}
        }
        var gen = MetaGenerator(seed: 7)
        var ops = gen.ops(60)
        ops.insert(.txn([.set(key: "k05", size: 3, seed: 1, ttl: .none, userMeta: 0)]), at: 5)
        ops.insert(.txn([.delete(key: "k05")]), at: 30)
        ops.append(.txn([.delete(key: "k05")]))
        ops.append(.get("k05"))
        func fails(_ o: [MetaOp]) -> Bool {
            let e = MetamorphicTests.transcript(o, MetaModel()).map(\.line)
            let g = MetamorphicTests.transcript(o, Broken()).map(\.line)
            return e != g
        }
        #expect(fails(ops))
        let best = MetamorphicTests.shrink(ops, fails: fails)
        #expect(best.count == 2, "minimal: \(best)")
    }
}
