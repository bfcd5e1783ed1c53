#!/usr/bin/env bash
# Builds the C kernels (generic + NEON) and their native test harness with Debian's AArch64 cross
# compiler and runs them under qemu-user five ways: a plain ARMv8-A build on an emulated Cortex-A53
# (no dot product: the widening int8 kernels), on a Neoverse N1 (the dot product, no int8 matrix
# multiply: the run-time choice of the `sdot` kernels) and on qemu's `max` CPU (which reports both:
# the `smmla` tiles), and builds that target the extensions at compile time (ARMv8.2-A + dotprod,
# and + i8mm) on `max`. Each run must test the NEON table it should have chosen. Exits non-zero on
# any mismatch.
# Usage: scripts/test-neon.sh   (installs gcc-aarch64-linux-gnu and qemu-user when missing, as root)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get install -y gcc-aarch64-linux-gnu qemu-user >/dev/null \
            || { apt-get update >/dev/null && apt-get install -y gcc-aarch64-linux-gnu qemu-user >/dev/null; }
    else
        echo "test-neon: need gcc-aarch64-linux-gnu and qemu-user (apt-get install -y ...)" >&2
        exit 2
    fi
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
total_pass=0
total_fail=0
for run in "armv8-a cortex-a53 neon" "armv8-a neoverse-n1 neon+dotprod" "armv8-a max neon+i8mm" \
           "armv8.2-a+dotprod max neon+i8mm" "armv8.2-a+dotprod+i8mm max neon+i8mm"; do
    read -r march cpu table <<<"$run"
    bin="$out/test-kernels-${march//[^a-z0-9]/_}"
    [ -x "$bin" ] || aarch64-linux-gnu-gcc -std=c11 -O2 -march="$march" -Wall -Wextra -Werror \
        -ISources/CTandemKernels/include \
        Sources/CTandemKernels/*.c Tests/CTandemKernelsNative/test_kernels.c -lm -o "$bin"
    echo "== -march=$march on -cpu $cpu (expects the $table table)"
    set +e
    log=$(qemu-aarch64 -cpu "$cpu" -L /usr/aarch64-linux-gnu "$bin")
    rc=$?
    set -e
    echo "$log"
    line=$(echo "$log" | tail -n 1)
    p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
    f=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
    if [ -z "$p" ]; then p=0; f=1; fi
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
    if ! echo "$log" | grep -qx "testing $table"; then
        echo "FAIL: expected the $table table on -cpu $cpu"
        f=$((f + 1))
    fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
done
echo "neon: $total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
