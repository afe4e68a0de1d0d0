#!/usr/bin/env bash
# Builds the `sett` executable (release) and runs `sett demo`: writes a few thousand keys,
# reopens the database, reads everything back, verifies it and prints the stats.
# Arguments go to `sett demo` (e.g. scripts/demo.sh --dir /tmp/sett-demo --fresh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh
swift build -c release --product sett
exec .build/release/sett demo "$@"
