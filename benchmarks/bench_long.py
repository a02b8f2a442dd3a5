"""Long batches: what recycling workers costs (max_tasks_per_child=50 against none), and what
the journal costs
now that it also records the items running (every half second) and each item as it finishes.
Targets: a recycle costs gilwise under 20 ms of batch time (fork); the journal's overhead stays
under 15% on ~50 µs tasks, as before."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import _crash  # noqa: E402
import gilwise  # noqa: E402
from _harness import exit_status, parse_args, render, verdict  # noqa: E402

EVERY = 50  # items per worker life


def _timed(run) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = run()
    return time.perf_counter() - t0, out


def recycling_cost(n: int, repeats: int) -> bool:
    # (CPython's ProcessPoolExecutor(max_tasks_per_child=50) is left out: on 3.11 it hung
    # this benchmark, a deadlock of its worker exits)
    plain, recycled, counts = [], [], []
    for _ in range(repeats):
        seconds, _ = _timed(lambda: list(gilwise.map(_crash.small, range(n), mode="processes",
                                                     workers=2)))
        plain.append(seconds)

        def with_recycling():
            results = gilwise.map(_crash.small, range(n), mode="processes", workers=2,
                                  max_tasks_per_child=EVERY)
            list(results)
            return results.info.recycled

        seconds, count = _timed(with_recycling)
        recycled.append(seconds)
        counts.append(count)

    a, b = statistics.median(plain), statistics.median(recycled)
    recycles = statistics.median(counts)
    each = (b - a) / max(recycles, 1)
    rows = [("items", "run", "seconds", "recycles", "per recycle"),
            (f"{n:,}", "gilwise, no recycling", f"{a:.3f}", "0", ""),
            (f"{n:,}", f"gilwise, max_tasks_per_child={EVERY}", f"{b:.3f}", f"{recycles:.0f}",
             f"{each * 1000:.1f} ms")]
    print(render(f"Recycling cost, processes x2, ~50 µs tasks, median of {repeats}", rows))
    ok = each < 0.020
    print(verdict(ok, f"a recycle costs gilwise under 20 ms of batch time ({each * 1000:.1f} ms)"))
    print()
    return ok


def journal_cost(n: int, repeats: int) -> bool:
    plain, journaled = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            plain.append(_timed(lambda: list(gilwise.map(
                _crash.small, range(n), mode="processes", workers=2)))[0])
            journaled.append(_timed(lambda: list(gilwise.map(
                _crash.small, range(n), mode="processes", workers=2,
                journal=Path(tmp) / "run.db")))[0])
    a, b = statistics.median(plain), statistics.median(journaled)
    rows = [("items", "without journal s", "with journal s", "overhead"),
            (f"{n:,}", f"{a:.3f}", f"{b:.3f}", f"{(b / a - 1) * 100:+.0f}%")]
    print(render(f"Journal with running items, processes x2, ~50 µs, median of {repeats}", rows))
    ok = b / a - 1 < 0.15
    print(verdict(ok, f"the journal's overhead under 15% ({(b / a - 1) * 100:.0f}%)"))
    print()
    return ok


def main() -> int:
    args = parse_args(__doc__)
    n, repeats = (3_000, 1) if args.quick else (20_000, 5)
    return exit_status([recycling_cost(n, repeats), journal_cost(n, repeats)])


if __name__ == "__main__":
    sys.exit(main())
