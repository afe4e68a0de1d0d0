#if canImport(Glibc)
import Glibc
#endif
@testable import Sett

/// A unique temporary directory, removed (with its files) by `remove()`.
struct TableTestDir {
    let path: String
    let fs = PosixFileSystem.shared

    init() {
        var template = Array("/tmp/sett-table-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = String(cString: p!)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func remove() {
        if let names = try? fs.list(path) { for n in names { try? fs.remove(file(n)) } }
        rmdir(path)
    }
}

/// Deterministic random numbers (SplitMix64).
func SeededRandom(_ seed: UInt64) -> SplitMix64 { SplitMix64(seed: seed) }

/// One stored version, owned, for reference models.
struct RefEntry {
    var key: [UInt8]        // internal key
    var meta: UInt8
    var userMeta: UInt8
    var expiresAt: UInt64
    var value: [UInt8]

    var userKey: [UInt8] { Array(key.dropLast(8)) }
    var version: UInt64 { key.withUnsafeBytes { InternalKey.version($0) } }

    func withValue<R>(_ body: (ValueView) -> R) -> R {
        value.withUnsafeBytes { body(ValueView(meta: meta, userMeta: userMeta, expiresAt: expiresAt, bytes: $0)) }
    }
}

enum TableFixtures {
    /// Random versioned entries sorted in internal-key order: shared prefixes, 1-4 versions
    /// per key, empty values, deletes, value pointers and expiry times.
    static func entries(count userKeys: Int, seed: UInt64) -> [RefEntry] {
        var rng = SeededRandom(seed)
        var users = Set<[UInt8]>()
        while users.count < userKeys {
            var k = Array("user:\(UInt32.random(in: 0 ..< 1_000_000, using: &rng))".utf8)
            if Bool.random(using: &rng) {
                k += (0 ..< Int.random(in: 0 ..< 20, using: &rng)).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
            }
            users.insert(k)
        }
        var out: [RefEntry] = []
        for u in users {
            var versions = Set<UInt64>()
            let n = Int.random(in: 1 ... 4, using: &rng)
            while versions.count < n { versions.insert(UInt64.random(in: 1 ... 1_000_000_000_000, using: &rng)) }
            for v in versions {
                var e = RefEntry(key: InternalKey.make(u, version: v), meta: 0, userMeta: UInt8.random(in: 0 ... 3, using: &rng),
                                 expiresAt: Bool.random(using: &rng) ? 0 : UInt64.random(in: 0 ... UInt64.max, using: &rng),
                                 value: [])
                switch Int.random(in: 0 ..< 10, using: &rng) {
                case 0: e.meta = EntryMeta.delete
                case 1: break // empty value
                case 2:
                    e.meta = EntryMeta.valuePointer
                    e.value = ValuePointer(fid: UInt32.random(in: 0 ... 100, using: &rng), len: 4096,
                                           offset: UInt32.random(in: 0 ... UInt32.max, using: &rng)).encode()
                default:
                    let len = Int.random(in: 0 ... 120, using: &rng)
                    // Compressible: a repeated pattern with some noise.
                    e.value = (0 ..< len).map { i in i % 7 == 0 ? UInt8.random(in: 0 ... 255, using: &rng) : UInt8(i % 13) }
                }
                if Int.random(in: 0 ..< 20, using: &rng) == 0 { e.meta |= EntryMeta.discardEarlierVersions }
                out.append(e)
            }
        }
        out.sort { a, b in a.key.withUnsafeBytes { pa in b.key.withUnsafeBytes { InternalKey.compare(pa, $0) < 0 } } }
        return out
    }

    static func build(_ entries: [RefEntry], _ options: TableBuilderOptions) -> [UInt8] {
        let b = TableBuilder(options: options)
        for e in entries { e.key.withUnsafeBytes { k in e.withValue { b.add(key: k, value: $0) } } }
        return b.finish()
    }
}

func cmpKeys(_ a: [UInt8], _ b: [UInt8]) -> Int {
    a.withUnsafeBytes { pa in b.withUnsafeBytes { InternalKey.compare(pa, $0) } }
}
