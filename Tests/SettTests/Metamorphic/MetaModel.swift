@testable import Sett

/// Something a metamorphic sequence runs against: a database configuration or the model.
/// `run` returns the transcript lines of one op (empty for ops with nothing to observe).
protocol MetaTarget: AnyObject {
    func run(_ op: MetaOp) throws -> [String]
    func close()
}

/// A canonical transcript of an all-versions iteration: keys in iteration order, each
/// with its versions newest first, cut at the first deletion or expired version (what
/// compaction may drop differs between configurations; the live chain above the newest
/// deletion is kept by every one, since the tests keep `numVersionsToKeep` huge).
func metaCanonicalAllVersions(_ items: [(key: String, version: UInt64, live: Bool, text: String)]) -> String {
    var order: [String] = []
    var byKey: [String: [(UInt64, Bool, String)]] = [:]
    for i in items {
        if byKey[i.key] == nil { order.append(i.key) }
        byKey[i.key, default: []].append((i.version, i.live, i.text))
    }
    var parts: [String] = []
    for k in order {
        var chain: [String] = []
        for (_, live, text) in byKey[k]!.sorted(by: { $0.0 > $1.0 }) {
            if !live { break }
            chain.append(text)
        }
        if !chain.isEmpty { parts.append(chain.joined(separator: ",")) }
    }
    return "[" + parts.joined(separator: " ") + "]"
}

/// The reference: a map of key -> versions, with the documented semantics of gets,
/// iterators, snapshots and transactions. Single-threaded, so every commit succeeds and
/// takes the next timestamp.
final class MetaModel: MetaTarget {
    struct Version {
        var version: UInt64
        var value: [UInt8]?   // nil = deletion
        var userMeta: UInt8
        var expiresAt: UInt64
        var live: Bool { value != nil && (expiresAt == 0 || expiresAt > unixNow()) }
    }

    struct Pending {
        var value: [UInt8]?
        var userMeta: UInt8
        var expiresAt: UInt64
        var live: Bool { value != nil && (expiresAt == 0 || expiresAt > unixNow()) }
    }

    var data: [String: [Version]] = [:]   // ascending versions
    var lastTs: UInt64 = 0
    var snapshots: [Int: UInt64] = [:]

    func close() {}

    func visible(_ key: String, _ ts: UInt64) -> Version? { data[key]?.last { $0.version <= ts } }

    func text(_ key: String, _ v: Version, keysOnly: Bool = false) -> String {
        metaItemText(key: key, version: v.version, userMeta: v.userMeta, expiresAt: v.expiresAt,
                     value: keysOnly ? nil : v.value)
    }

    func get(_ key: String, at ts: UInt64, pending: [String: Pending]? = nil) -> String {
        if let p = pending?[key] {
            guard p.live else { return "nil" }
            return metaItemText(key: key, version: ts, userMeta: p.userMeta, expiresAt: p.expiresAt, value: p.value)
        }
        guard let v = visible(key, ts), v.live else { return "nil" }
        return text(key, v)
    }

    /// Keys an iterator positioned by `spec` walks, in its order.
    func keys(_ spec: MetaIter, extra: some Sequence<String>) -> [String] {
        var all = Set(data.keys)
        all.formUnion(extra)
        var ks = all.filter { $0.hasPrefix(spec.prefix) }.sorted { compareBytes(Array($0.utf8), Array($1.utf8)) < 0 }
        if let seek = spec.seek {
            let s = Array(seek.utf8)
            if spec.reverse {
                let end = prefixSuccessor(Array(spec.prefix.utf8))
                if spec.prefix.isEmpty || end == nil || compareBytes(s, end!) < 0 {
                    ks = ks.filter { compareBytes(Array($0.utf8), s) <= 0 }
                }
            } else {
                let p = Array(spec.prefix.utf8)
                let start = compareBytes(s, p) < 0 ? p : s
                ks = ks.filter { compareBytes(Array($0.utf8), start) >= 0 }
            }
        }
        return spec.reverse ? ks.reversed() : ks
    }

    func iterate(_ spec: MetaIter, at ts: UInt64, pending: [String: Pending]? = nil) -> String {
        let ks = keys(spec, extra: pending?.keys.map { $0 } ?? [])
        if spec.allVersions {
            var items: [(key: String, version: UInt64, live: Bool, text: String)] = []
            for k in ks {
                for v in (data[k] ?? []).reversed() where v.version <= ts {
                    items.append((k, v.version, v.live, text(k, v, keysOnly: spec.keysOnly)))
                }
            }
            return "all" + metaCanonicalAllVersions(items)
        }
        let since = spec.sinceBack.map { lastTs >= UInt64($0) ? lastTs - UInt64($0) : 0 } ?? 0
        var out: [String] = []
        for k in ks where out.count < spec.limit {
            if let p = pending?[k] {
                if p.live {
                    out.append(metaItemText(key: k, version: ts, userMeta: p.userMeta, expiresAt: p.expiresAt,
                                            value: spec.keysOnly ? nil : p.value))
                }
                continue
            }
            guard let v = visible(k, ts), v.version > since, v.live else { continue }
            out.append(text(k, v, keysOnly: spec.keysOnly))
        }
        return "[" + out.joined(separator: " ") + "]"
    }

    func run(_ op: MetaOp) throws -> [String] {
        switch op {
        case let .txn(steps):
            var pending: [String: Pending] = [:]
            var lines: [String] = []
            for s in steps {
                switch s {
                case let .set(k, size, seed, ttl, um):
                    pending[k] = Pending(value: metaValue(size: size, seed: seed), userMeta: um, expiresAt: ttl.expiresAt)
                case let .delete(k):
                    pending[k] = Pending(value: nil, userMeta: 0, expiresAt: 0)
                case let .get(k):
                    lines.append("txn get \(k) -> " + get(k, at: lastTs, pending: pending))
                case let .iterate(spec):
                    lines.append("txn iterate -> " + iterate(spec, at: lastTs, pending: pending))
                }
            }
            lastTs += 1
            for (k, p) in pending {
                data[k, default: []].append(Version(version: lastTs, value: p.value, userMeta: p.userMeta,
                                                    expiresAt: p.expiresAt))
            }
            lines.append("commit@\(lastTs)")
            return lines
        case let .get(k):
            return ["get \(k) -> " + get(k, at: lastTs)]
        case let .viewGet(k):
            return ["viewGet \(k) -> " + get(k, at: lastTs)]
        case let .iterate(spec):
            return ["iterate -> " + iterate(spec, at: lastTs)]
        case let .openSnapshot(slot):
            snapshots[slot] = lastTs
            return ["snapshot \(slot) @\(lastTs)"]
        case let .snapshotGet(slot, k):
            guard let ts = snapshots[slot] else { return ["no snapshot \(slot)"] }
            return ["snapshot \(slot) get \(k) -> " + get(k, at: ts)]
        case let .snapshotIterate(slot, spec):
            guard let ts = snapshots[slot] else { return ["no snapshot \(slot)"] }
            var s = spec
            s.sinceBack = nil  // sinceTs is relative to the newest commit, not meaningful for old snapshots
            return ["snapshot \(slot) iterate -> " + iterate(s, at: ts)]
        case let .closeSnapshot(slot):
            snapshots[slot] = nil
            return []
        case .reopen, .crash:
            snapshots.removeAll()
            return []
        case .flatten, .valueLogGC:
            return []
        }
    }
}
