import Testing
@testable import Sett

@Suite struct FormatTests {
    @Test func internalKeyGoldenBytes() {
        let k = InternalKey.make(Array("ab".utf8), version: 5)
        #expect(k == [0x61, 0x62, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFA])
        k.withUnsafeBytes { #expect(InternalKey.version($0) == 5) }
    }

    @Test func internalKeysOrderByUserKeyThenNewestVersionFirst() {
        let keys = [("a", 1), ("a", 9), ("ab", 3), ("b", 2), ("a", 5)].map { InternalKey.make(Array($0.0.utf8), version: UInt64($0.1)) }
        let sorted = keys.sorted { a, b in a.withUnsafeBytes { pa in b.withUnsafeBytes { InternalKey.compare(pa, $0) < 0 } } }
        let names = sorted.map { k in k.withUnsafeBytes { (String(decoding: InternalKey.userKey($0), as: UTF8.self), InternalKey.version($0)) } }
        #expect(names.map(\.0) == ["a", "a", "a", "ab", "b"])
        #expect(names.map(\.1) == [9, 5, 1, 3, 2])
    }

    @Test func valueGoldenBytesAndRoundTrip() throws {
        let payload: [UInt8] = [7, 8, 9]
        var w = ByteWriter()
        payload.withUnsafeBytes { p in
            ValueView(meta: EntryMeta.discardEarlierVersions, userMeta: 0x42, expiresAt: 300, bytes: p).encode(into: &w)
        }
        #expect(w.bytes == [0x04, 0x42, 0xAC, 0x02, 7, 8, 9])
        try w.bytes.withUnsafeBytes { raw in
            let v = try ValueView.decode(raw)
            #expect(v.meta == EntryMeta.discardEarlierVersions && v.userMeta == 0x42 && v.expiresAt == 300)
            #expect(Array(v.bytes) == payload)
        }
    }

    @Test func valuePointerGoldenBytes() throws {
        let p = ValuePointer(fid: 1, len: 0x0203, offset: 0x0A0B0C0D)
        #expect(p.encode() == [1, 0, 0, 0, 0x03, 0x02, 0, 0, 0x0D, 0x0C, 0x0B, 0x0A])
        #expect(try p.encode().withUnsafeBytes { try ValuePointer.decode($0) } == p)
    }

    @Test func malformedValuesAreCorruptionNotTraps() {
        let cases: [[UInt8]] = [[], [0], [0x80, 0, 0], [0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
                                [0x02, 0, 0, 1, 2, 3]]
        for c in cases {
            #expect(throws: SettError.self) { try c.withUnsafeBytes { _ = try ValueView.decode($0) } }
        }
    }

    @Test func crc32cMatchesTheStandardCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test func byteReaderRefusesReadsPastTheEnd() {
        let b: [UInt8] = [1, 2, 3]
        b.withUnsafeBytes { raw in
            var r = ByteReader(raw)
            #expect(throws: SettError.self) { _ = try r.u32() }
            #expect(throws: SettError.self) { _ = try r.length(max: 0) }
        }
    }
}
