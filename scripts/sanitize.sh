#!/usr/bin/env bash
# The Swift test suite under a sanitizer (issue 8), and a record of the run.
#
#   scripts/sanitize.sh address    AddressSanitizer: out-of-bounds reads and writes, use after
#                                  free, double free — in Swift and in the C targets (kernels,
#                                  the SentencePiece shim), and in the `tandem` binary the CLI
#                                  tests run, which is built with the same sanitizer
#   scripts/sanitize.sh thread     ThreadSanitizer: data races in the thread pool
#                                  (Sources/TandemKernels/ThreadPool.swift), batched decoding
#                                  and everything else the tests run on several threads
#   scripts/sanitize.sh address --filter PATTERN    only the matching tests (swift test --filter)
#
# Each kind builds into its own scratch directory (.build-asan, .build-tsan) so the normal debug
# build is untouched. Suppressions are in scripts/sanitizers/ (lsan.supp, tsan.supp), each with
# the reason it exists. The result — pass/fail, test count, seconds — is merged into
# docs/reliability/sanitizers.json, which scripts/reliability-report.sh reads. The exit status is
# the test run's.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

kind=${1:-}
case "$kind" in
    address) scratch=.build-asan ;;
    thread) scratch=.build-tsan ;;
    *) echo "usage: scripts/sanitize.sh address|thread [--filter PATTERN]" >&2; exit 2 ;;
esac
shift
filter=()
if [ "${1:-}" = "--filter" ]; then filter=(--filter "$2"); shift 2; fi

# LeakSanitizer runs at exit with ASan; its suppressions (leaks that are not Tandem's) are in
# scripts/sanitizers/lsan.supp. halt_on_error: stop at the first report.
export ASAN_OPTIONS="halt_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$repo/scripts/sanitizers/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$repo/scripts/sanitizers/tsan.supp${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
# Which sanitizer the tests run under, for the few bounds that only hold without one's shadow memory.
export TANDEM_SANITIZER="$kind"

echo "==> building the tests with -sanitize=$kind into $scratch"
build_start=$(date +%s)
swift build --build-tests --sanitize="$kind" --scratch-path "$scratch"
build_seconds=$(( $(date +%s) - build_start ))

log=$(mktemp)
trap 'rm -f "$log"' EXIT
command="swift test --skip-build --sanitize=$kind --scratch-path $scratch ${filter[*]}"
echo "==> $command"
start=$(date +%s)
set +e
swift test --skip-build --sanitize="$kind" --scratch-path "$scratch" "${filter[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
seconds=$(( $(date +%s) - start ))
# A sanitizer report in a child process (the CLI tests' `tandem`) fails the run even if the
# test that spawned it did not notice.
if [ "$status" = 0 ] && grep -q "ERROR: AddressSanitizer\|WARNING: ThreadSanitizer\|ERROR: ThreadSanitizer" "$log"; then
    status=1
fi

python3 - "$kind" "$status" "$seconds" "$build_seconds" "$command" "$log" <<'EOF'
import datetime, json, os, re, sys
kind, status, seconds, build_seconds, command, log = sys.argv[1:]
text = open(log, encoding="utf-8", errors="replace").read()
# swift-testing: "Test run with 123 tests in 20 suites passed after 10.5 seconds."
m = re.findall(r"Test run with (\d+) tests? (?:in \d+ suites? )?(passed|failed)", text)
tests = int(m[-1][0]) if m else None
x = re.findall(r"Executed (\d+) tests?, with (\d+) failures?", text)
xctests = int(x[-1][0]) if x else 0
reports = len(re.findall(r"ERROR: AddressSanitizer|WARNING: ThreadSanitizer", text))
path = "docs/reliability/sanitizers.json"
data = json.load(open(path)) if os.path.exists(path) else {"schema": 1, "runs": {}}
data["runs"][kind] = {
    "result": "pass" if status == "0" else "FAIL",
    "tests": (tests or 0) + xctests,
    "sanitizer_reports": reports,
    "seconds": int(seconds),
    "build_seconds": int(build_seconds),
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "machine": f"{os.uname().sysname} {os.uname().machine}, {os.cpu_count()} cores",
    "command": command.strip(),
}
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, "w") as fh:
    json.dump(data, fh, indent=2, sort_keys=True)
    fh.write("\n")
r = data["runs"][kind]
print(f"==> {kind} sanitizer: {r['result']}, {r['tests']} tests, {reports} sanitizer reports, {seconds} s (+{build_seconds} s build)")
EOF
exit "$status"
