"""Memory: map a generator of 2,000,000 trivial items (x + 1) on 2 processes, summing results.

Each contender runs in its own fresh interpreter (this file with --child), which reports its
peak RSS in MB (ru_maxrss of the parent process, workers not counted; "base" is the peak
after imports, before the map) and wall time.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time

import _harness as h

W = 2
ITEMS = 2_000_000
TARGET_MB = 60.0
MB = 1e6  # ru_maxrss is in KiB on Linux; reported here in MB (10^6 bytes)
CONTENDERS = {  # name on the table: (child argument, note)
    "gilwise processes": ("gilwise", "defaults"),
    "ProcessPoolExecutor.map": ("ppe", "chunksize 1000"),
    "multiprocessing Pool.imap": ("imap", "chunksize 1000"),
}


def gen(n: int):
    yield from range(n)


def child(kind: str, n: int) -> dict[str, float]:
    """Runs in the fresh interpreter: import only what this contender needs, then map."""
    from _work import inc

    if kind == "gilwise":
        import gilwise

        def run():
            return sum(gilwise.map(inc, gen(n), mode="processes", workers=W))
    elif kind == "ppe":
        from concurrent.futures import ProcessPoolExecutor

        def run():
            with ProcessPoolExecutor(W) as ex:
                return sum(ex.map(inc, gen(n), chunksize=1000))
    else:
        import multiprocessing as mp

        def run():
            with mp.Pool(W) as p:
                return sum(p.imap(inc, gen(n), chunksize=1000))

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB
    t0 = time.perf_counter()
    total = run()
    seconds = time.perf_counter() - t0
    assert total == n * (n + 1) // 2, total
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB
    return {"base_mb": base, "peak_mb": peak, "seconds": seconds}


def in_fresh_process(kind: str, n: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(n)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def main() -> int:
    p = h.parser(__doc__)
    p.add_argument("--child", nargs=2, metavar=("KIND", "N"),
                   help="internal: run one contender in this process and print JSON")
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]))))
        return 0
    n, repeats = (200_000, 1) if args.quick else (ITEMS, 3)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in CONTENDERS}
    for _ in range(repeats):  # round-robin, as in the other benchmarks
        for name, (kind, _note) in CONTENDERS.items():
            runs[name].append(in_fresh_process(kind, n))
    cs = []
    for name, (_kind, note) in CONTENDERS.items():
        c = h.Contender(name, n, run=lambda: None, note=note)
        c.times = [r["seconds"] for r in runs[name]]
        cs.append(c)
    peak = {name: statistics.median(r["peak_mb"] for r in rs) for name, rs in runs.items()}
    base = {name: statistics.median(r["base_mb"] for r in rs) for name, rs in runs.items()}
    gw_peak = peak["gilwise processes"]
    print(h.table(f"Memory: generator of {n:,} items, x + 1, {W} processes, one interpreter "
                  "each", cs, unit="items/s",
                  extra={"base MB": lambda c: f"{base[c.name]:.1f}",
                         "peak MB": lambda c: f"{peak[c.name]:.1f}",
                         "peak / gilwise": lambda c: f"{peak[c.name] / gw_peak:.2f}x"}))
    ok = gw_peak <= TARGET_MB
    print(h.verdict(ok, f"gilwise peak RSS {gw_peak:.1f} MB (target <= {TARGET_MB:.0f} MB)"))
    return h.exit_status([ok])


if __name__ == "__main__":
    sys.exit(main())
