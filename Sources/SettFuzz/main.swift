// libFuzzer driver for Sett's decoders. Built only by scripts/fuzz.sh (Package.swift adds
// this target when SETT_FUZZ=1), with `-sanitize=fuzzer,address`. SwiftPM gives
// executables their own `main`, so this one hands control to libFuzzer through
// `LLVMFuzzerRunDriver` (libFuzzer's own `main` is then not linked).
//
// SETT_FUZZ_TARGET selects the target (one of `FuzzEntry.targets`); the libFuzzer flags
// (corpus dirs, -max_total_time, ...) pass through. With SETT_FUZZ_WRITE_SEEDS=<dir> it
// writes a seed corpus (valid files from the engine's own encoders) to <dir>/<target>/
// and exits.
import CSettFuzz
import Sett
#if canImport(Glibc)
import Glibc
#endif

nonisolated(unsafe) var selectedTarget = "wal"

func writeSeeds(_ root: String) {
    mkdir(root, 0o755)
    for (target, seeds) in FuzzSeeds.all() {
        mkdir(root + "/" + target, 0o755)
        for (i, s) in seeds.enumerated() {
            guard let f = fopen(root + "/" + target + "/seed-\(i)", "wb") else { continue }
            _ = s.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
            fclose(f)
        }
    }
}

if let dir = getenv("SETT_FUZZ_WRITE_SEEDS") {
    writeSeeds(String(cString: dir))
    exit(0)
}
if let t = getenv("SETT_FUZZ_TARGET") { selectedTarget = String(cString: t) }
guard FuzzEntry.targets.contains(selectedTarget) else {
    print("SETT_FUZZ_TARGET must be one of \(FuzzEntry.targets)")
    exit(2)
}
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    FuzzEntry.run(selectedTarget, UnsafeRawBufferPointer(start: data, count: size))
    return 0
})
