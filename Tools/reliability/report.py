"""Writes docs/RELIABILITY.md (issue 8): fuzzing, the hostile-file suite, resource bounds and
faults, sanitizer runs. Run by scripts/reliability-report.sh, which builds the release `tandem`.

Every message in the report is what the release binary printed when this script ran it on the
case, never typed by hand: the crafted files come from hostile_files.py, the faults are provoked
here (a file-size limit, a file truncated under a running process, SIGINT, a 10^7-character
prompt). Fuzzing and sanitizer numbers are read from the JSON files their scripts write
(docs/reliability/fuzz-results.json from scripts/fuzz.sh, docs/reliability/sanitizers.json from
scripts/sanitize.sh); a part that has not been run says so. Standard library only.

    python3 Tools/reliability/report.py --tandem .build/release/tandem --out docs/RELIABILITY.md
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import hostile_files  # noqa: E402

CHECKPOINTS = os.path.join(REPO, "Tests", "Fixtures", "checkpoints")


def vm_hwm_kib(pid):
    """The process's peak resident memory (VmHWM) while it runs, or 0.

    Not ru_maxrss from wait4: exec carries the high-water mark of the address space it replaces
    (the spawning process's, under vfork or fork) into the new program's count."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Run:
    """One child process: exit status, output, and peak memory (VmHWM sampled every 5 ms)."""

    def __init__(self, argv, stdin=None, limit_file_bytes=None, interrupt_after_bytes=None, on_output=None, timeout=600):
        out = tempfile.TemporaryFile()
        err = tempfile.TemporaryFile()
        preexec = None
        if limit_file_bytes is not None:
            preexec = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_bytes, limit_file_bytes))  # noqa: E731
        start = time.monotonic()
        stdin_file = open(stdin, "rb") if stdin else subprocess.DEVNULL
        # restore_signals (the default) resets SIGXFSZ and SIGPIPE in the child: what it does
        # about them is its own doing.
        p = subprocess.Popen(argv, stdin=stdin_file, stdout=out, stderr=err, preexec_fn=preexec)
        if stdin:
            stdin_file.close()
        status = None
        peak = 0
        while time.monotonic() - start < timeout:
            peak = max(peak, vm_hwm_kib(p.pid))
            pid, status = os.waitpid(p.pid, os.WNOHANG)
            if pid == p.pid:
                break
            status = None
            size = os.fstat(out.fileno()).st_size
            if interrupt_after_bytes is not None and size >= interrupt_after_bytes:
                interrupt_after_bytes = None
                (on_output or (lambda: os.kill(p.pid, signal.SIGINT)))()
            time.sleep(0.005)
        if status is None:
            os.kill(p.pid, signal.SIGKILL)
            _, status = os.waitpid(p.pid, 0)
        p.returncode = 0  # reaped here, not by Popen
        self.seconds = time.monotonic() - start
        self.exit = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        self.signal = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        self.peak_mib = peak / 1024
        out.seek(0)
        err.seek(0)
        self.stdout = out.read()
        self.stderr = err.read().decode("utf-8", "replace")

    @property
    def status_text(self):
        return f"exit {self.exit}" if self.exit is not None else f"signal {self.signal} ({signal.Signals(self.signal).name})"


def code(text):
    """`text` as inline code in a table cell."""
    text = text.strip().replace("|", "\\|").replace("\n", " ⏎ ")
    return "`" + text + "`" if text else "—"


def hostile_suite(tandem, work):
    files = os.path.join(work, "hostile")
    subprocess.run([sys.executable, os.path.join(HERE, "hostile_files.py"), files], check=True)
    with open(os.path.join(files, "cases.json")) as fh:
        cases = json.load(fh)
    rows = {"tandem": [], "gguf": [], "safetensors": []}
    problems = 0
    for c in cases:
        if c["group"] == "tandem":
            argv = [tandem, "inspect", c["file"]] + c["flags"]
        else:
            argv = [tandem, "convert", c["file"], "--dtype", "q8_0", "-o", os.path.join(work, "out.tandem"), "--quiet"]
        r = Run(argv)
        shown = "tandem " + " ".join(os.path.relpath(a, files) if a.startswith(files) else
                                     os.path.relpath(a, work) if a.startswith(work) else a for a in argv[1:])
        lines = r.stderr.splitlines()
        if c["id"] == "valid":
            ok = r.exit == 0 and not lines
            message = "accepted" if ok else r.stderr
        else:
            ok = r.exit == 1 and len(lines) == 1 and lines[0].startswith("tandem: error: ")
            message = r.stderr.replace(files + "/", "")
        problems += not ok
        rows[c["group"]].append(f"| {c['title']} | {code(shown)} | {r.status_text} | {code(message)} | {'✓' if ok else '✗'} |")
    return rows, len(cases), problems


def convert_tiny(tandem, work, name):
    out = os.path.join(work, name + ".q8_0.tandem")
    subprocess.run([tandem, "convert", os.path.join(CHECKPOINTS, name), "--dtype", "q8_0", "-o", out, "--quiet"], check=True)
    return out


def faults(tandem, work):
    t5 = convert_tiny(tandem, work, "t5-v1_1-tiny")
    gpt2 = convert_tiny(tandem, work, "gpt2-tiny")
    rows = []
    problems = []

    def row(case, how, r, expect_ok, shown=None):
        if not expect_ok:
            problems.append(case)
        rows.append(f"| {case} | {how} | {r.status_text} | {code(shown if shown is not None else r.stderr)} | "
                    f"{r.peak_mib:.0f} MiB | {r.seconds:.1f} s | {'✓' if expect_ok else '✗'} |")

    # A prompt of 10^7 characters, on standard input (an argument that long exceeds the kernel's
    # 128 KiB limit per argument).
    for label, unit in [("words", "the river über the old town 日本; a cat in the rain "),
                        ("no spaces", "abcdefghijklmnopqrstuvwxyzüabcdefghijklmnopqrstuvw")]:
        prompt = os.path.join(work, "prompt.txt")
        with open(prompt, "w", encoding="utf-8") as fh:
            fh.write(unit * (10_000_000 // len(unit)))
        for model, name in [(t5, "t5-v1_1-tiny"), (gpt2, "gpt2-tiny")]:
            r = Run([tandem, "generate", model, "--max-tokens", "4", "--threads", "1"], stdin=prompt)
            ok = r.exit == 0 and "prompt truncated" in r.stderr and r.peak_mib < 1024
            row(f"10^7-character prompt ({label}), {name}", "`tandem generate MODEL --max-tokens 4 < prompt.txt`", r, ok)

    # --max-tokens 10^6: Ctrl-C after 300 bytes of output. Memory must follow the tokens
    # generated (--stats says how many), not the 10^6 asked for.
    r = Run([tandem, "generate", t5, "translate English to German: The house.", "--max-tokens", "1000000",
             "--min-tokens", "1000000", "--threads", "1", "--stats"], interrupt_after_bytes=300)
    try:
        r.stdout.decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        valid = False
    m = re.search(r"decode [0-9.]+ tokens/s \(([0-9]+) tokens\)", r.stderr)
    tokens = int(m.group(1)) if m else -1
    ok = r.exit == 130 and valid and r.stdout.endswith(b"\n") and 0 <= tokens and r.peak_mib < 448 + tokens * 4 / 1024
    row("`--max-tokens 1000000`, SIGINT after 300 bytes, t5-v1_1-tiny",
        f"SIGINT after {tokens} tokens; {len(r.stdout)} bytes of output, {'valid' if valid else 'INVALID'} UTF-8", r, ok,
        shown=r.stderr.splitlines()[-1] if r.stderr else "")

    r = Run([tandem, "generate", gpt2, "hello world", "--max-tokens", "1000000", "--min-tokens", "1000000", "--threads", "1"])
    row("`--max-tokens 1000000` on gpt2-tiny (128 positions)", "runs to the end of the context", r,
        r.exit == 0 and "capped at" in r.stderr)

    # Out of space: a 768 KiB file-size limit (RLIMIT_FSIZE) while converting to f32 (1.1 MB).
    target_dir = os.path.join(work, "fsize")
    os.makedirs(target_dir)
    target = os.path.join(target_dir, "model.tandem")
    r = Run([tandem, "convert", os.path.join(CHECKPOINTS, "t5-v1_1-tiny"), "--dtype", "f32", "-o", target, "--quiet"],
            limit_file_bytes=768 << 10)
    left = sorted(os.listdir(target_dir))
    ok = r.exit == 1 and not left
    row("out of space while converting (768 KiB RLIMIT_FSIZE, 1.1 MB output)",
        f"files left in the output directory: {', '.join(left) if left else 'none'}", r, ok,
        shown=r.stderr.replace(target_dir + "/", ""))

    # A model truncated while `tandem generate` has it mapped.
    shrinking = os.path.join(work, "shrinking.tandem")
    shutil.copyfile(t5, shrinking)
    r = Run([tandem, "generate", shrinking, "translate English to German: The house.", "--max-tokens", "1000000",
             "--min-tokens", "1000000", "--threads", "1"],
            interrupt_after_bytes=64, on_output=lambda: os.truncate(shrinking, 4096))
    ok = r.exit == 1 and "was truncated or changed while in use" in r.stderr
    row("model file truncated to 4 KiB while generating", "`truncate` by this script after 64 bytes of output", r, ok,
        shown=r.stderr.replace(work + "/", ""))
    return rows, len(problems)


def fuzz_section():
    path = os.path.join(REPO, "docs", "reliability", "fuzz-results.json")
    targets = []
    script = os.path.join(REPO, "scripts", "fuzz.sh")
    if os.path.exists(script):
        with open(script) as fh:
            text = fh.read()
        if "all_targets=(" in text:
            body = text.split("all_targets=(", 1)[1].split(")", 1)[0]
            targets = body.split()
    results = {}
    if os.path.exists(path):
        with open(path) as fh:
            results = json.load(fh).get("targets", {})
    # Findings fixed: each is committed as Tests/Fixtures/fuzz-regressions/<target>-<what> with a
    # regression test (Fuzz/README.md).
    regressions = os.path.join(REPO, "Tests", "Fixtures", "fuzz-regressions")
    committed = sorted(os.listdir(regressions)) if os.path.isdir(regressions) else []
    lines = ["| target | executions | seconds | crashes (latest run) | findings fixed | corpus | exit | date | command |",
             "|---|---:|---:|---:|---|---:|---:|---|---|"]
    for t in sorted(set(targets) | set(results)):
        r = results.get(t)
        fixed = [f[len(t) + 1:] for f in committed if f.startswith(t + "-")]
        fixed_text = f"{len(fixed)}: " + ", ".join(f"`{f}`" for f in fixed) if fixed else "0"
        if r is None:
            lines.append(f"| {t} | not run | | | {fixed_text} | | | | |")
        else:
            lines.append(f"| {t} | {r.get('executions', '?'):,} | {r.get('seconds', '?')} | {r.get('crashes', '?')} | {fixed_text} | "
                         f"{r.get('corpus_size', '?')} | {r.get('exit_status', '?')} | {r.get('date', '?')} | {code(r.get('command', ''))} |")
    if not targets and not results:
        lines.append("| — | not run | | | | | | | |")
    source = ("`docs/reliability/fuzz-results.json`" if results else
              "nothing yet: `docs/reliability/fuzz-results.json` does not exist")
    return lines, source


def sanitizer_section():
    path = os.path.join(REPO, "docs", "reliability", "sanitizers.json")
    runs = {}
    if os.path.exists(path):
        with open(path) as fh:
            runs = json.load(fh).get("runs", {})
    lines = ["| sanitizer | result | tests | duration | date | machine | command |", "|---|---|---:|---:|---|---|---|"]
    for kind in ("address", "thread"):
        r = runs.get(kind)
        if r is None:
            lines.append(f"| {kind} | not run | | | | | |")
        else:
            lines.append(f"| {kind} | {r['result']} | {r.get('tests', '?')} | {r.get('seconds', '?')} s | {r.get('date', '?')} | "
                         f"{r.get('machine', '?')} | {code(r.get('command', ''))} |")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tandem", required=True)
    ap.add_argument("--out", default=os.path.join(REPO, "docs", "RELIABILITY.md"))
    args = ap.parse_args()
    tandem = os.path.abspath(args.tandem)
    work = tempfile.mkdtemp(prefix="tandem-reliability-")
    try:
        hostile, count, problems = hostile_suite(tandem, work)
        fault_rows, fault_problems = faults(tandem, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    fuzz_lines, fuzz_source = fuzz_section()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    header = ["| | |", "|---|---|", f"| generated | {now} by `scripts/reliability-report.sh` |",
              f"| source | commit {commit}{' with uncommitted changes' if dirty else ''} |",
              f"| machine | {platform.system()} {platform.machine()}, {os.cpu_count()} cores |",
              f"| binary | release `tandem` ({os.path.relpath(tandem, REPO)}) |"]
    table = "| case | command | status | what `tandem` printed | |\n|---|---|---|---|---|"
    doc = [
        "# Reliability report",
        "",
        "Issue 8: whatever the bytes of a model file, prompt or input, Tandem must not crash, hang, read",
        "out of bounds or allocate without bound. This file is generated — do not edit it; rerun",
        "`scripts/reliability-report.sh` (add `--sanitizers` to rerun the sanitizer suites first).",
        "",
        *header,
        "",
        "## Fuzzing",
        "",
        "libFuzzer targets, one per parser of outside bytes (`Fuzz/`, run by `scripts/fuzz.sh`); numbers from",
        f"{fuzz_source}. Findings fixed: the inputs committed under `Tests/Fixtures/fuzz-regressions/`, each",
        "with a regression test (`Tests/*/FuzzRegressionTests.swift`; `scripts/fuzz.sh --replay` reruns them).",
        "",
        *fuzz_lines,
        "",
        "## Hostile files",
        "",
        "Crafted by `Tools/reliability/hostile_files.py`, each wrong in one way; every rejection rule of",
        "`Formats/FORMAT.md` §8, the resource bounds of issue 8, and the GGUF and safetensors equivalents.",
        "✓: refused with exactly one line `tandem: error: …` and exit status 1 (the control file: accepted).",
        f"{count} cases, {problems} unexpected.",
        "",
        "### `.tandem` (`tandem inspect`)",
        "",
        table, *hostile["tandem"],
        "",
        "### GGUF (`tandem convert FILE.gguf`)",
        "",
        table, *hostile["gguf"],
        "",
        "### safetensors (`tandem convert DIR`, a GPT-2 checkpoint with a crafted `model.safetensors`)",
        "",
        table, *hostile["safetensors"],
        "",
        "## Resource bounds and faults",
        "",
        "Run by this script on the committed tiny checkpoints (converted to q8_0); peak memory is the",
        "child's own high-water mark (VmHWM, sampled every 5 ms). Bounds checked: prompt < 1 GiB, interrupted generation",
        f"< 448 MiB + 4 KiB per generated token. {len(fault_rows)} cases, {fault_problems} unexpected. The same cases are tests: `Tests/TandemCLITests/ResourceBoundCLITests.swift`,",
        "`FaultCLITests.swift`, `Tests/TandemFormatTests/ResourceBoundTests.swift`, `WriterFaultTests.swift`.",
        "",
        "| case | how | status | what `tandem` printed (stderr) | peak RSS | time | |",
        "|---|---|---|---|---:|---:|---|",
        *fault_rows,
        "",
        "## Sanitizers",
        "",
        "The Swift test suite under AddressSanitizer and ThreadSanitizer (`scripts/sanitize.sh`, also run by",
        "CI through `scripts/test.sh`); numbers from `docs/reliability/sanitizers.json`.",
        "",
        *sanitizer_section(),
        "",
    ]
    with open(args.out, "w") as fh:
        fh.write("\n".join(doc))
    print(f"wrote {os.path.relpath(args.out, REPO)}: {count} hostile files ({problems} unexpected), "
          f"{len(fault_rows)} resource and fault cases ({fault_problems} unexpected)")
    return 1 if problems or fault_problems else 0


if __name__ == "__main__":
    sys.exit(main())
