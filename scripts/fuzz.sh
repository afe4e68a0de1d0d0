#!/usr/bin/env bash
# Fuzzes Sett's decoders with libFuzzer (targets: see FuzzEntry.targets).
#   scripts/fuzz.sh [--minutes N] [--seconds S] [target...]
# Builds Sources/SettFuzz (SETT_FUZZ=1, -sanitize=fuzzer,address) into .build-fuzz/,
# writes a seed corpus made by the engine's own encoders, adds the regression inputs from
# Tests/SettTests/Fixtures/fuzz/<target>/, then runs each target for an equal share of
# the time with its corpus in .build-fuzz/corpus/<target>/. Crashing inputs are saved to
# .build-fuzz/crashes/<target>/; copy one to Tests/SettTests/Fixtures/fuzz/<target>/ once
# the bug is fixed (FuzzRegressionTests replays that directory).
# Prints "fuzz <target>: ok|CRASH ..." per target and exits non-zero if any crashed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

total_seconds=120
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) total_seconds=$(( $2 * 60 )); shift 2 ;;
        --seconds) total_seconds=$2; shift 2 ;;
        -h|--help) sed -n 2,10p "$0"; exit 0 ;;
        *) targets+=("$1"); shift ;;
    esac
done
all_targets=(wal walsegment vlog block table manifest feedstate discard value)
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")

scratch=.build-fuzz
echo "fuzz: building SettFuzz (release, -sanitize=fuzzer,address)"
if ! SETT_FUZZ=1 swift build -c release --scratch-path "$scratch" --product SettFuzz \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld > "$scratch.build.log" 2>&1; then
    tail -30 "$scratch.build.log"
    echo "fuzz: BUILD FAILED (log: $scratch.build.log)"
    exit 1
fi
bin="$scratch/release/SettFuzz"
SETT_FUZZ_WRITE_SEEDS="$scratch/seeds" "$bin"

per=$(( total_seconds / ${#targets[@]} ))
[ "$per" -lt 5 ] && per=5
failed=0
for t in "${targets[@]}"; do
    corpus="$scratch/corpus/$t"
    crashes="$scratch/crashes/$t"
    mkdir -p "$corpus" "$crashes"
    cp -n "$scratch/seeds/$t"/* "$corpus/" 2>/dev/null || true
    cp -n Tests/SettTests/Fixtures/fuzz/"$t"/* "$corpus/" 2>/dev/null || true
    log="$scratch/fuzz-$t.log"
    SETT_FUZZ_TARGET="$t" "$bin" -max_total_time="$per" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" > "$log" 2>&1
    rc=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    if [ $rc -eq 0 ]; then
        echo "fuzz $t: ok, ${per}s, ${runs:-?} runs, corpus $(ls "$corpus" | wc -l)"
    else
        failed=1
        echo "fuzz $t: CRASH (exit $rc) - inputs in $crashes/, log $log"
        grep -m5 -E "ERROR|Fatal error|SUMMARY" "$log" | sed 's/^/    /'
    fi
done
exit $failed
