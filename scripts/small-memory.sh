#!/usr/bin/env bash
# A model larger than the memory it is given still runs, from its mapping: `tandem generate` once
# freely and once inside a memory cgroup of LIMIT_MB (below the file's size), the file evicted from
# the page cache before each run so that its pages are read (and charged) anew. The weights are
# mapped read-only, so under the limit the kernel drops their pages and reads them again from the
# file; only the working memory (KV cache, activations, buffers) must fit. Prints wall time, peak
# RSS and the cgroup's peak for both runs; exits non-zero if the limited run fails or its text
# differs from the free run's (a limit below the working memory: the kernel kills it, exit 1).
#
#   scripts/small-memory.sh MODEL.tandem LIMIT_MB [TOKENS]
#
# Needs root, a cgroup memory controller (v1 or v2), as on this project's machines, and util-linux's
# fincore; and no other process mapping the model (its pages could not be evicted).
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -ge 2 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
model=$1 limit_mb=$2 tokens=${3:-32}
tandem=${TANDEM:-.build/release/tandem}
[ -x "$tandem" ] || swift build -c release --product tandem >/dev/null
prompt="Write a Python function that returns the n-th Fibonacci number."

if [ -f /sys/fs/cgroup/cgroup.controllers ]; then               # cgroup v2
    group=/sys/fs/cgroup/tandem-small-memory.$$
    mkdir "$group"
    echo $((limit_mb * 1048576)) > "$group/memory.max"
    echo 0 > "$group/memory.swap.max" 2>/dev/null || true
    peak() { cat "$group/memory.peak" 2>/dev/null || echo 0; }
else                                                             # cgroup v1
    group=/sys/fs/cgroup/memory/tandem-small-memory.$$
    mkdir "$group"
    echo $((limit_mb * 1048576)) > "$group/memory.limit_in_bytes"
    echo $((limit_mb * 1048576)) > "$group/memory.memsw.limit_in_bytes" 2>/dev/null || true
    peak() { cat "$group/memory.max_usage_in_bytes"; }
fi
out=$(mktemp -d)
trap 'rmdir "$group" 2>/dev/null || true; rm -rf "$out"' EXIT

# Drops the file's pages from the page cache; pages another process maps stay, and a limit is no
# test for them (they are charged elsewhere), so that is an error, not a result.
evict() {
    python3 -c "import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)" "$model"
    local cached
    cached=$(fincore --bytes --noheadings --output RES "$model" | tr -d ' ')
    if [ "${cached:-0}" -gt $((8 * 1048576)) ]; then
        echo "small-memory: $((cached / 1048576)) MB of $(basename "$model") stay in the page cache (another process maps it?); stop it first" >&2
        exit 3
    fi
}
run() {  # name, then the command's prefix
    local name=$1; shift
    evict
    if ! "$@" /usr/bin/time -f "%e %M" -o "$out/$name.time" "$tandem" generate "$model" --chat "$prompt" \
        --max-tokens "$tokens" --threads 2 > "$out/$name.txt" 2> "$out/$name.err"; then
        echo "small-memory: the $name run failed: $(grep -h . "$out/$name.err" "$out/$name.time" | tail -2 | tr '\n' ' ')" >&2
        exit 1
    fi
}
limited() { bash -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' _ "$group" "$@"; }

run free
run limited limited
read -r free_s free_kb < "$out/free.time"
read -r lim_s lim_kb < "$out/limited.time"
bytes=$(stat -c %s "$model")
echo "model $(basename "$model"): $((bytes / 1048576)) MB file, $tokens new tokens, 2 threads"
echo "free:                 ${free_s} s, peak RSS $((free_kb / 1024)) MB"
echo "limited to ${limit_mb} MB:   ${lim_s} s, peak RSS $((lim_kb / 1024)) MB, cgroup peak $(( $(peak) / 1048576 )) MB"
if cmp -s "$out/free.txt" "$out/limited.txt"; then
    echo "same text: yes"
else
    echo "same text: NO"
    exit 1
fi
