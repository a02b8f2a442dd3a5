"""How long the GIL lab takes: `gilwise lab --quick` (target: under 30 s, as part of
`gilwise demo`), the full lab (target: under 3 minutes) and `gilwise lab --quick
--all-pythons` across every interpreter found (target: under a minute for three), each a real
CLI run in its own process, median of a few. A duration target, so it lives here rather than
in the tests."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _harness as h

TARGETS = {"quick": 30.0, "full": 180.0, "across": 60.0}
FLAGS = {"quick": ["--quick"], "full": [], "across": ["--quick", "--all-pythons"]}
LABELS = {"quick": "gilwise lab --quick", "full": "gilwise lab",
          "across": "gilwise lab --quick --all-pythons"}


def run(name: str) -> float:
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "gilwise", "lab", "--out", out] + FLAGS[name]
        t0 = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - t0
        stem = "gil-lab-pythons" if name == "across" else "gil-lab"
        assert (Path(out) / f"{stem}.png").exists() and (Path(out) / f"{stem}.json").exists()
        return seconds


def main() -> int:
    args = h.parse_args(__doc__)
    plan = [("quick", 1 if args.quick else 3)] + ([] if args.quick else [("full", 1)])
    from gilwise.lab.across import discover

    found = discover()
    if len(found) >= 3:  # the target is for three interpreters: 3.11, 3.14 and 3.13t in CI
        plan.append(("across", 1))
    else:
        print(f"across interpreters: skipped, {len(found)} found (`make interpreters`)")
    rows = [("lab", "runs", "median s", "min-max s", "target s")]
    passed = []
    for name, repeats in plan:
        times = [run(name) for _ in range(repeats)]
        median = statistics.median(times)
        rows.append((LABELS[name], str(repeats),
                     f"{median:.1f}", f"{min(times):.1f}-{max(times):.1f}",
                     f"< {TARGETS[name]:.0f}"))
        passed.append((name, median))
    print(h.render("The GIL lab, end to end (process start, every experiment, chart, JSON)",
                   rows))
    oks = []
    for name, median in passed:
        ok = median < TARGETS[name]
        oks.append(ok)
        print(h.verdict(ok, f"{name} lab in {median:.1f} s (target < {TARGETS[name]:.0f} s)"))
    return h.exit_status(oks)


if __name__ == "__main__":
    sys.exit(main())
