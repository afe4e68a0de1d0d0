#!/usr/bin/env bash
# Installs the system libraries Sett links against (snappy, zstd, lz4) and pkg-config,
# if pkg-config cannot already find them. Idempotent: a no-op (~10 ms) once installed.
set -euo pipefail

if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists snappy libzstd liblz4; then
  exit 0
fi

sudo=""
if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
echo "install-deps: installing libsnappy-dev libzstd-dev liblz4-dev pkg-config" >&2
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y libsnappy-dev libzstd-dev liblz4-dev pkg-config
