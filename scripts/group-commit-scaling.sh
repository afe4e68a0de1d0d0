#!/usr/bin/env bash
# Group-commit scaling: one transaction per put with syncWrites, 1 writer vs N writers,
# interleaved rounds, median ops/sec of each and their ratio.
#   scripts/group-commit-scaling.sh [--writers N] [--num N] [--rounds R] [--sync 0|1]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
writers=8 num=20000 rounds=5 sync=1
while [ $# -gt 0 ]; do
  case "$1" in
    --writers) writers=$2; shift 2 ;;
    --num) num=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --sync) sync=$2; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
scripts/install-deps.sh >/dev/null
swift build -c release --product sett >/dev/null
bin=.build/release/sett
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
one=() many=()
for r in $(seq "$rounds"); do
  for w in 1 "$writers"; do
    rm -rf "$dir/db"
    ops=$("$bin" bench --db="$dir/db" --benchmarks=fillrandom --num="$num" --batch_size=1 --sync="$sync" \
      --txn_writers="$w" | awk '/^fillrandom/ {print $5}')
    if [ "$w" = 1 ]; then one+=("$ops"); else many+=("$ops"); fi
    echo "round $r: $w writer(s): $ops ops/sec" >&2
  done
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m1=$(median "${one[@]}") mn=$(median "${many[@]}")
echo "sync=$sync num=$num rounds=$rounds: 1 writer $m1 ops/sec, $writers writers $mn ops/sec, ratio $(awk -v a="$mn" -v b="$m1" 'BEGIN {printf "%.2f", a/b}')x"
