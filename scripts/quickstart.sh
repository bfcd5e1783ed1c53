#!/usr/bin/env bash
# Set up a fresh machine, build Tandem in release mode and run the main job.
# Usage: scripts/quickstart.sh            (from the repository root)
#
# 1. installs the system libraries Tandem links (SentencePiece, LZ4) with apt-get;
# 2. builds the `tandem` command (release);
# 3. converts a small T5 checkpoint shipped in the repository to the Tandem format (q8_0) and
#    inspects it, verifying every checksum.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if ! dpkg -s libsentencepiece-dev liblz4-dev >/dev/null 2>&1; then
    echo "==> installing system packages: libsentencepiece-dev liblz4-dev"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq libsentencepiece-dev liblz4-dev pkg-config
fi

echo "==> building tandem (release)"
swift build -c release --product tandem

OUT="${TANDEM_CACHE:-$HOME/.cache/tandem}"
mkdir -p "$OUT"
echo "==> converting Tests/Fixtures/checkpoints/t5-v1_1-tiny → $OUT/t5-v1_1-tiny.q8_0.tandem"
.build/release/tandem convert Tests/Fixtures/checkpoints/t5-v1_1-tiny --dtype q8_0 -o "$OUT/t5-v1_1-tiny.q8_0.tandem"
echo "==> inspecting it"
.build/release/tandem inspect "$OUT/t5-v1_1-tiny.q8_0.tandem" --verify --summary
