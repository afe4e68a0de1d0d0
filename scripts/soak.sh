#!/usr/bin/env bash
# Long soak of the reliability harnesses: the full fault/crash sweep, then metamorphic,
# kill torture and fuzzing.
#   scripts/soak.sh --minutes N      (default 15; the sweep runs once in full, the time
#                                     left is split 40% metamorphic, 30% kill, 30% fuzz)
# Prints one summary line per harness and exits non-zero if any failed. Logs go to
# .build-soak/. Replay a metamorphic failure with the SETT_META_SEED it prints; fuzz
# crashes are saved under .build-fuzz/crashes/<target>/ (see docs/testing.md).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

minutes=15
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) minutes=$2; shift 2 ;;
        -h|--help) sed -n 2,6p "$0"; exit 0 ;;
        *) echo "unknown argument: $1"; exit 2 ;;
    esac
done
total=$(( minutes * 60 ))
logs=.build-soak
mkdir -p "$logs"
start=$(date +%s)

echo "soak: ${minutes} min total; logs in $logs/"
if ! swift build --build-tests > "$logs/build.log" 2>&1; then
    tail -30 "$logs/build.log"; echo "soak: BUILD FAILED"; exit 1
fi

failed=0
summary() { # name rc log pattern
    local line
    line=$(grep -E "$4" "$3" | tail -1)
    if [ "$2" -eq 0 ]; then echo "soak $1: PASS - ${line:-no summary}"; else
        failed=1; echo "soak $1: FAIL (exit $2) - ${line:-no summary}; log $3"
        grep -m3 -E "FAILURE|Issue recorded|Fatal error|error:" "$3" | sed 's/^/    /'
    fi
}

SETT_SWEEP_FULL=1 swift test --skip-build --filter "FaultSweepTests|CrashSimulationTests" > "$logs/sweep.log" 2>&1
summary sweep $? "$logs/sweep.log" "Test run with"

left=$(( total - ($(date +%s) - start) ))
[ "$left" -lt 60 ] && left=60
meta_s=$(( left * 40 / 100 ))
kill_s=$(( left * 30 / 100 ))
fuzz_s=$(( left - meta_s - kill_s ))
echo "soak: metamorphic ${meta_s}s, kill ${kill_s}s, fuzz ${fuzz_s}s"

SETT_META_MINUTES=$(awk "BEGIN{print $meta_s/60}") swift test --skip-build --filter MetamorphicTests/optionSetsAndModelAgreeOnSeededSequences \
    > "$logs/metamorphic.log" 2>&1
summary metamorphic $? "$logs/metamorphic.log" "^metamorphic:"

SETT_KILL_MINUTES=$(awk "BEGIN{print $kill_s/60}") swift test --skip-build --filter KillTortureTests/sigkillAtRandomMoments \
    > "$logs/kill.log" 2>&1
summary kill $? "$logs/kill.log" "^kill torture:"

scripts/fuzz.sh --seconds "$fuzz_s" > "$logs/fuzz.log" 2>&1
rc=$?
n_ok=$(grep -c "^fuzz .*: ok" "$logs/fuzz.log")
n_crash=$(grep -c "^fuzz .*: CRASH" "$logs/fuzz.log")
if [ $rc -eq 0 ]; then echo "soak fuzz: PASS - $n_ok targets ok, $n_crash crashes"; else
    failed=1; echo "soak fuzz: FAIL (exit $rc) - $n_ok targets ok, $n_crash crashes; log $logs/fuzz.log"
    grep -E "CRASH|BUILD FAILED" "$logs/fuzz.log" | sed 's/^/    /'
fi

[ $failed -eq 0 ] && echo "soak: PASS" || echo "soak: FAIL"
exit $failed
