#!/usr/bin/env bash
# Runs Tandem's libFuzzer targets (Fuzz/, one per parser of outside bytes; see Fuzz/README.md)
# and records what each run did.
#
#   scripts/fuzz.sh [--runs N] [--seconds S] [--no-build] [TARGET…]
#   scripts/fuzz.sh --replay [--no-build]
#
#   --runs N      stop each target after N executions (libFuzzer -runs=N)
#   --seconds S   stop each target after S seconds (libFuzzer -max_total_time=S); with --runs too,
#                 whichever comes first. Neither: --runs 100000.
#   --no-build    use the binaries already in .build-fuzz
#   --replay      run every committed finding, Tests/Fixtures/fuzz-regressions/<TARGET>-*, once
#                 through its target (with the sanitizers, so a leak that came back is caught,
#                 which the unit tests cannot see); exit 1 if any still fails
#   TARGET        FuzzTandemFile FuzzSafetensors FuzzGGUF FuzzSentencePieceText
#                 FuzzSentencePieceModel FuzzBPEText FuzzTokenizerJSON FuzzConfigJSON
#                 FuzzSummarizeJSONL (default: all of them, one after the other)
#
# Steps: build Fuzz/ in release mode with -sanitize=fuzzer,address into .build-fuzz; write the
# seed corpora from the committed fixtures (FuzzSeeds → Fuzz/.corpus/<target>/seed-*); run each
# target under `nice -n 19` over its corpus, which keeps what it finds (Fuzz/.corpus is
# git-ignored); crash, timeout and out-of-memory inputs go to Fuzz/.artifacts/<target>/, the log
# to Fuzz/.logs/<target>.log. Every run uses -rss_limit_mb=2048 (so is every single allocation:
# libFuzzer's malloc limit defaults to it), -timeout=10 and a -max_len that fits its seeds.
# LeakSanitizer is on, with the suppressions in Fuzz/lsan.supp (leaks outside Tandem, each
# explained there). The targets that read JSON get -dict=Fuzz/dicts/json.dict.
#
# Results: docs/reliability/fuzz-results.json, one entry per target, replaced by that target's
# latest run (entries of targets not run are kept):
#
#   {
#     "schema": 1,
#     "targets": {
#       "FuzzGGUF": {
#         "executions": 1000000,   inputs executed in the run (libFuzzer stat::number_of_executed_units)
#         "seconds": 412,          wall-clock seconds of the run
#         "crashes": 0,            crash-/timeout-/oom-/leak- artifacts the run wrote (libFuzzer stops at the first)
#         "corpus_size": 812,      files in Fuzz/.corpus/<target> after the run
#         "peak_rss_mb": 310,      libFuzzer stat::peak_rss_mb
#         "exit_status": 0,        libFuzzer's exit status (0: no finding)
#         "date": "2025-01-01T12:00:00Z",   UTC time the run ended
#         "command": "nice -n 19 .build-fuzz/release/FuzzGGUF -runs=1000000 …",   as run, from the repository root
#         "regressions": ["Tests/Fixtures/fuzz-regressions/FuzzGGUF-…"]   findings of earlier runs,
#                                  fixed, each with a regression test (refreshed by every invocation)
#       }
#     }
#   }
#
# The exit status is 1 when any target found something, else 0.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

all_targets=(FuzzTandemFile FuzzSafetensors FuzzGGUF FuzzSentencePieceText FuzzSentencePieceModel
             FuzzBPEText FuzzTokenizerJSON FuzzConfigJSON FuzzSummarizeJSONL)

# Targets that read JSON get the dictionary of JSON syntax and the keys the readers look up.
dict_args() {
    case "$1" in
        FuzzTandemFile | FuzzSafetensors | FuzzTokenizerJSON | FuzzConfigJSON | FuzzSummarizeJSONL) echo "-dict=Fuzz/dicts/json.dict" ;;
    esac
}

# Longest input per target: each fits the target's largest seed with room to grow.
max_len() {
    case "$1" in
        FuzzTandemFile | FuzzGGUF | FuzzTokenizerJSON) echo 32768 ;;
        FuzzSafetensors) echo 16384 ;;
        FuzzSentencePieceModel) echo 8192 ;;
        FuzzSummarizeJSONL) echo 2048 ;;
        *) echo 4096 ;;
    esac
}

limit=()
build=1
replay=0
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) limit+=("-runs=$2"); shift 2 ;;
        --seconds) limit+=("-max_total_time=$2"); shift 2 ;;
        --no-build) build=0; shift ;;
        --replay) replay=1; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        Fuzz*) targets+=("$1"); shift ;;
        *) echo "fuzz.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
[ ${#limit[@]} -gt 0 ] || limit=(-runs=100000)

scratch=.build-fuzz
if [ "$build" = 1 ]; then
    echo "==> building Fuzz/ with -sanitize=fuzzer,address"
    (cd Fuzz && nice -n 19 swift build -c release --scratch-path "$repo/$scratch" \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library)
fi
bin=$scratch/release
export LSAN_OPTIONS="suppressions=$repo/Fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
# Swift's own crash backtracer would run inside the sanitizer's crash path; libFuzzer reports.
export SWIFT_BACKTRACE=enable=no

# Lists each target's committed findings (Tests/Fixtures/fuzz-regressions/<target>-*) in the results.
record_regressions() {
    [ -f "$results" ] || return 0
    flock Fuzz/.logs/results.lock python3 - "$results" <<'EOF'
import glob, json, sys
path = sys.argv[1]
with open(path) as f:
    data = json.load(f)
for target, entry in data["targets"].items():
    entry["regressions"] = sorted(glob.glob(f"Tests/Fixtures/fuzz-regressions/{target}-*"))
with open(path, "w") as f:
    json.dump(data, f, indent=2)
    f.write("\n")
EOF
}

results=docs/reliability/fuzz-results.json
mkdir -p Fuzz/.logs
if [ "$replay" = 1 ]; then
    failed=0
    for f in Tests/Fixtures/fuzz-regressions/Fuzz*; do
        t=$(basename "$f"); t=${t%%-*}
        if "$bin/$t" -rss_limit_mb=2048 -timeout=10 "$f" >Fuzz/.logs/replay.log 2>&1; then
            echo "ok      $t $f"
        else
            echo "FAILED  $t $f"; grep -E '^(==[0-9]+==ERROR|SUMMARY|.*Fatal error)' Fuzz/.logs/replay.log | head -3 | sed 's/^/    /'
            failed=1
        fi
    done
    record_regressions
    exit "$failed"
fi

"$bin/FuzzSeeds" Fuzz/.corpus >/dev/null

mkdir -p docs/reliability
found=0
for t in "${targets[@]}"; do
    [ -x "$bin/$t" ] || { echo "fuzz.sh: no target $t in $bin" >&2; exit 2; }
    corpus=Fuzz/.corpus/$t artifacts=Fuzz/.artifacts/$t/ log=Fuzz/.logs/$t.log
    mkdir -p "$corpus" "$artifacts"
    before=$(find "$artifacts" -type f | wc -l)
    cmd=(nice -n 19 "$bin/$t" "${limit[@]}" -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=10 $(dict_args "$t")
         -print_final_stats=1 -artifact_prefix="$artifacts" "$corpus")
    echo "==> $t: ${cmd[*]}"
    start=$(date +%s)
    status=0
    "${cmd[@]}" >"$log" 2>&1 || status=$?
    seconds=$(($(date +%s) - start))
    crashes=$(($(find "$artifacts" -type f | wc -l) - before))
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    peak=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    corpus_size=$(find "$corpus" -type f | wc -l)
    if [ -z "$executions" ]; then
        # A crash ends the run before the final stats; the last status line still counts inputs.
        executions=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    fi
    echo "    $executions executions in ${seconds}s, corpus $corpus_size, findings $crashes (exit $status, log $log)"
    if [ "$status" != 0 ] || [ "$crashes" != 0 ]; then
        found=1
        grep -E '^(==[0-9]+==ERROR|SUMMARY|.*Fatal error|artifact_prefix|Test unit written)' "$log" | head -5 | sed 's/^/    /' || true
    fi
    # Under a lock: several invocations may run side by side, each on its own targets.
    flock Fuzz/.logs/results.lock python3 - "$results" "$t" "${executions:-0}" "$seconds" "$crashes" "$corpus_size" "${peak:-0}" "$status" "${cmd[*]}" <<'EOF'
import datetime, json, os, sys
path, target, executions, seconds, crashes, corpus, peak, status, command = sys.argv[1:]
data = {"schema": 1, "targets": {}}
if os.path.exists(path):
    with open(path) as f:
        data = json.load(f)
data["targets"][target] = {
    "executions": int(executions), "seconds": int(seconds), "crashes": int(crashes),
    "corpus_size": int(corpus), "peak_rss_mb": int(peak), "exit_status": int(status),
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "command": command,
}
data["targets"] = dict(sorted(data["targets"].items()))
with open(path, "w") as f:
    json.dump(data, f, indent=2)
    f.write("\n")
EOF
done
record_regressions
echo "==> results in $results"
exit "$found"
