"""Run every benchmarks/bench_*.py in turn (each in its own interpreter) and print its tables,
then a summary of the PASS/FAIL lines. ``--quick`` is passed on; ``--strict`` makes a missed
target a failing exit status (by default only a crashed benchmark is)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import _harness as h

HERE = Path(__file__).resolve().parent


def load() -> str:
    """1, 5 and 15-minute load averages: on a shared 2-core box, above 2 means contention."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a fast smoke run of each benchmark")
    p.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    p.add_argument("only", nargs="*", help="names to run, e.g. overhead cpu (default: all)")
    args = p.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.only]
    verdicts: list[str] = []
    crashed: list[str] = []
    for script in scripts:
        command = [sys.executable, str(script)] + (["--quick"] if args.quick else [])
        print(f"$ python benchmarks/{script.name}{' --quick' if args.quick else ''}"
              f"   (load average before: {load()})", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(command, stdout=subprocess.PIPE, text=True)
        print(proc.stdout, end="")
        print(f"({script.name}: {time.perf_counter() - t0:.0f} s, load average after: {load()})\n",
              flush=True)
        verdicts += [f"{script.stem}: {line}" for line in proc.stdout.splitlines()
                     if line.startswith(("PASS", "FAIL"))]
        if proc.returncode not in (0, h.MISSED):
            crashed.append(f"{script.name} (exit status {proc.returncode})")
    print("Summary")
    print("\n".join(verdicts + [f"CRASHED: {c}" for c in crashed]))
    missed = any(v.split(": ", 1)[1].startswith("FAIL") for v in verdicts)
    return 1 if crashed or (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
