@testable import Sett

/// Operations of the metamorphic test, their seeded generator and their printed form.
///
/// A sequence of `MetaOp`s is run against several database configurations and an
/// in-memory model (`MetaModel`); each run yields a transcript (one line per observable
/// result) and the transcripts must be identical. Everything here is deterministic in
/// the seed: replay with SETT_META_SEED=<seed>.

/// A small deterministic PRNG (SplitMix64), so a seed names one sequence on every machine.
typealias MetaRandom = SplitMix64

extension SplitMix64 {
    mutating func int(_ range: Range<Int>) -> Int { Int.random(in: range, using: &self) }
    mutating func chance(_ percent: Int) -> Bool { int(0 ..< 100) < percent }
}

/// TTL choices with fixed absolute expiry times, so transcripts do not depend on the clock.
enum MetaTTL: Int, CustomStringConvertible {
    case none = 0, expired, future
    var expiresAt: UInt64 {
        switch self {
        case .none: 0
        case .expired: 1            // long past: reads as absent
        case .future: 4_000_000_000 // year 2096
        }
    }
    var description: String { ["none", "expired", "future"][rawValue] }
}

/// How an iterator is opened and positioned.
struct MetaIter: CustomStringConvertible {
    var prefix: String = ""
    var reverse = false
    var allVersions = false
    var keysOnly = false
    /// nil = rewind.
    var seek: String?
    /// Items to read at most (ignored for allVersions, which reads everything).
    var limit = 20
    /// sinceTs = (last commit ts) - sinceBack, when set (not with allVersions).
    var sinceBack: Int?

    var description: String {
        var parts: [String] = []
        if !prefix.isEmpty { parts.append("prefix:\(prefix)") }
        if reverse { parts.append("reverse") }
        if allVersions { parts.append("allVersions") }
        if keysOnly { parts.append("keysOnly") }
        if let seek { parts.append("seek:\(seek)") }
        if let sinceBack { parts.append("sinceBack:\(sinceBack)") }
        parts.append("limit:\(limit)")
        return parts.joined(separator: ",")
    }
}

/// One step inside an update transaction.
enum MetaTxnStep: CustomStringConvertible {
    case set(key: String, size: Int, seed: UInt32, ttl: MetaTTL, userMeta: UInt8)
    case delete(key: String)
    case get(key: String)
    case iterate(MetaIter)

    var isWrite: Bool {
        switch self {
        case .set, .delete: true
        case .get, .iterate: false
        }
    }

    var description: String {
        switch self {
        case let .set(k, size, seed, ttl, um): "set(\(k), size:\(size), seed:\(seed), ttl:\(ttl), um:\(um))"
        case let .delete(k): "delete(\(k))"
        case let .get(k): "get(\(k))"
        case let .iterate(i): "iterate(\(i))"
        }
    }
}

enum MetaOp: CustomStringConvertible {
    /// An update transaction (at least one write), committed at the end.
    case txn([MetaTxnStep])
    /// `DB.get` (newest version).
    case get(String)
    /// `view { txn.get }`.
    case viewGet(String)
    /// `view { txn.makeIterator }`.
    case iterate(MetaIter)
    /// Opens a read transaction kept in `slot` (replacing one there) across later ops.
    case openSnapshot(Int)
    case snapshotGet(Int, String)
    case snapshotIterate(Int, MetaIter)
    case closeSnapshot(Int)
    /// `DB.flatten()`: flush what compaction sees and compact to one level.
    case flatten
    /// Close and open again (open snapshots are discarded first).
    case reopen
    /// Power loss: continue on what was durable (crashable configurations; a reopen
    /// elsewhere). With synced writes nothing acknowledged may be missing.
    case crash
    /// Value-log GC passes (`runValueLogGC`) on every database of the run until one
    /// collects nothing: transcripts must not change.
    case valueLogGC

    var description: String {
        switch self {
        case let .txn(steps): "txn[" + steps.map(\.description).joined(separator: "; ") + "]"
        case let .get(k): "get(\(k))"
        case let .viewGet(k): "viewGet(\(k))"
        case let .iterate(i): "iterate(\(i))"
        case let .openSnapshot(s): "openSnapshot(\(s))"
        case let .snapshotGet(s, k): "snapshotGet(\(s), \(k))"
        case let .snapshotIterate(s, i): "snapshotIterate(\(s), \(i))"
        case let .closeSnapshot(s): "closeSnapshot(\(s))"
        case .flatten: "flatten"
        case .reopen: "reopen"
        case .crash: "crash"
        case .valueLogGC: "valueLogGC"
        }
    }
}

/// Generates op sequences.
struct MetaGenerator {
    var rng: MetaRandom
    let keyCount = 40

    init(seed: UInt64) { rng = MetaRandom(seed: seed) }

    mutating func key() -> String {
        // Skewed towards a hot set so keys get many versions.
        let i = rng.chance(50) ? rng.int(0 ..< 8) : rng.int(0 ..< keyCount)
        return "k" + (i < 10 ? "0" : "") + String(i)
    }

    mutating func valueSize() -> Int {
        switch rng.int(0 ..< 10) {
        case 0: 0
        case 1 ..< 6: rng.int(1 ..< 48)
        case 6 ..< 9: rng.int(48 ..< 400)
        default: rng.int(400 ..< 1500)   // above the value threshold of most configs
        }
    }

    mutating func iter(inUpdateTxn: Bool) -> MetaIter {
        var it = MetaIter()
        if rng.chance(40) { it.prefix = ["k0", "k1", "k2", "k3", "k"][rng.int(0 ..< 5)] }
        it.reverse = rng.chance(35)
        it.allVersions = !inUpdateTxn && rng.chance(20)
        it.keysOnly = rng.chance(15)
        if rng.chance(45) { it.seek = rng.chance(20) ? "k" + String(rng.int(0 ..< 5)) : key() }
        it.limit = [3, 10, 50][rng.int(0 ..< 3)]
        if !inUpdateTxn && !it.allVersions && rng.chance(15) { it.sinceBack = rng.int(0 ..< 30) }
        return it
    }

    mutating func txn() -> MetaOp {
        var steps: [MetaTxnStep] = []
        let n = rng.int(1 ..< 5)
        for _ in 0 ..< n {
            switch rng.int(0 ..< 10) {
            case 0 ..< 6:
                let ttl: MetaTTL = rng.chance(85) ? .none : (rng.chance(50) ? .expired : .future)
                steps.append(.set(key: key(), size: valueSize(), seed: UInt32(truncatingIfNeeded: rng.next()),
                                  ttl: ttl, userMeta: rng.chance(80) ? 0 : UInt8(rng.int(1 ..< 256))))
            case 6 ..< 8: steps.append(.delete(key: key()))
            case 8: steps.append(.get(key: key()))
            default: steps.append(.iterate(iter(inUpdateTxn: true)))
            }
        }
        if !steps.contains(where: \.isWrite) { steps.append(.delete(key: key())) }
        return .txn(steps)
    }

    /// A transaction of 6-11 medium values (2-7 KiB): fills tiny memtables quickly
    /// while staying under every configuration's transaction size limit.
    mutating func bulk() -> MetaOp {
        .txn((0 ..< rng.int(6 ..< 12)).map { _ in
            .set(key: key(), size: rng.int(200 ..< 640), seed: UInt32(truncatingIfNeeded: rng.next()), ttl: .none,
                 userMeta: 0)
        })
    }

    mutating func op() -> MetaOp {
        switch rng.int(0 ..< 100) {
        case 0 ..< 12: return bulk()
        case 12 ..< 45: return txn()
        case 45 ..< 52: return .get(key())
        case 52 ..< 58: return .viewGet(key())
        case 58 ..< 68: return .iterate(iter(inUpdateTxn: false))
        case 68 ..< 72: return .openSnapshot(rng.int(0 ..< 3))
        case 72 ..< 78: return .snapshotGet(rng.int(0 ..< 3), key())
        case 78 ..< 84: return .snapshotIterate(rng.int(0 ..< 3), iter(inUpdateTxn: false))
        case 84 ..< 86: return .closeSnapshot(rng.int(0 ..< 3))
        case 86 ..< 91: return .flatten
        case 91 ..< 95: return .reopen
        case 95 ..< 98: return .crash
        default: return .valueLogGC
        }
    }

    mutating func ops(_ count: Int) -> [MetaOp] { (0 ..< count).map { _ in op() } }
}

/// The bytes of a generated value.
func metaValue(size: Int, seed: UInt32) -> [UInt8] {
    var x = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 | 1
    var out = [UInt8]()
    out.reserveCapacity(size)
    for _ in 0 ..< size {
        x ^= x << 13
        x ^= x >> 7
        x ^= x << 17
        out.append(UInt8(truncatingIfNeeded: x))
    }
    return out
}

/// FNV-1a of a value, for compact transcripts.
func metaHash(_ bytes: [UInt8]) -> String {
    var h: UInt32 = 2_166_136_261
    for b in bytes { h = (h ^ UInt32(b)) &* 16_777_619 }
    return String(h, radix: 16)
}

/// One observed item as a transcript fragment.
func metaItemText(key: String, version: UInt64, userMeta: UInt8, expiresAt: UInt64, value: [UInt8]?) -> String {
    var s = "\(key)@\(version)"
    if userMeta != 0 { s += "/um\(userMeta)" }
    if expiresAt != 0 { s += "/exp\(expiresAt)" }
    if let value { s += "=\(value.count)#\(metaHash(value))" }
    return s
}
