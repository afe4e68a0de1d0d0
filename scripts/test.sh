#!/usr/bin/env bash
# Builds and runs the test suite. Extra arguments go to `swift test`
# (e.g. scripts/test.sh --filter BenchFlagsTests). Exits with swift test's status.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh
swift build --build-tests
exec swift test "$@"
