#!/usr/bin/env bash
# Regenerates docs/RELIABILITY.md (issue 8) in one command:
#
#   scripts/reliability-report.sh                  build release `tandem`, run the hostile-file
#                                                  suite and the fault cases, write the report
#   scripts/reliability-report.sh --sanitizers     first rerun scripts/sanitize.sh address and thread
#   scripts/reliability-report.sh --fuzz SECONDS   first rerun scripts/fuzz.sh --seconds SECONDS
#
# What is in the report and where each part comes from: Tools/reliability/report.py. Fuzzing and
# sanitizer figures are the latest recorded runs (docs/reliability/*.json); the hostile files and
# fault cases run now, on the release binary, taking about a minute. Set TANDEM_BUILD_DIR to use
# another build directory than .build. The exit status is 1 when a case behaved unexpectedly.
set -euo pipefail
cd "$(dirname "$0")/.."

sanitizers=0
fuzz_seconds=
while [ $# -gt 0 ]; do
    case "$1" in
        --sanitizers) sanitizers=1; shift ;;
        --fuzz) fuzz_seconds=$2; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "reliability-report.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [ "$sanitizers" = 1 ]; then
    # A failing sanitizer run is recorded as such in the report; carry on to write it.
    scripts/sanitize.sh address || true
    scripts/sanitize.sh thread || true
fi
if [ -n "$fuzz_seconds" ]; then
    scripts/fuzz.sh --seconds "$fuzz_seconds" || true
fi

build=${TANDEM_BUILD_DIR:-.build}
echo "==> swift build -c release --product tandem --scratch-path $build"
swift build -c release --product tandem --scratch-path "$build"
python3 Tools/reliability/report.py --tandem "$build/release/tandem" --out docs/RELIABILITY.md
