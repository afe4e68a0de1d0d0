// libFuzzer driver for Sett's decoders. Built only by scripts/fuzz.sh (Package.swift adds
// this target when SETT_FUZZ=1), with `-sanitize=fuzzer,address`: libFuzzer provides
// `main`, so this file defines none. The target is chosen with SETT_FUZZ_TARGET (one of
// `FuzzEntry.targets`). With SETT_FUZZ_WRITE_SEEDS=<dir> the binary writes a seed corpus
// (valid files made by the engine's own encoders) to <dir>/<target>/ and exits.
import Sett
#if canImport(Glibc)
import Glibc
#endif

nonisolated(unsafe) private var selected = "wal"

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>,
                             _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    if let dir = getenv("SETT_FUZZ_WRITE_SEEDS") {
        let root = String(cString: dir)
        for (target, seeds) in FuzzSeeds.all() {
            mkdir(root, 0o755)
            mkdir(root + "/" + target, 0o755)
            for (i, s) in seeds.enumerated() {
                let path = root + "/" + target + "/seed-\(i)"
                guard let f = fopen(path, "wb") else { continue }
                _ = s.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
                fclose(f)
            }
        }
        exit(0)
    }
    if let t = getenv("SETT_FUZZ_TARGET") { selected = String(cString: t) }
    guard FuzzEntry.targets.contains(selected) else {
        print("SETT_FUZZ_TARGET must be one of \(FuzzEntry.targets)")
        exit(2)
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzEntry.run(selected, UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
