"""Auto mode against the best manual choice on varied workloads: is auto near the best?

Each workload runs as one batch in threads at several thread counts (2, 8, 32, 128, and the
count auto chose, fixed: the best one is the manual choice to beat, not the default count), in
processes (one per core), and in auto mode (which measures its first items and chooses).
Target: auto's wall time within 1.2x of the best manual choice everywhere, and within 1.1x on
most.

Then the stability table: ``gilwise.explain`` N times per workload (default 20), on a quiet
machine and while another process this benchmark starts keeps one core busy. Target: the
same mode in at least 19 of 20 runs for each, and I/O-bound work never in processes.
``--stability-runs N`` sets N; ``--stability-only`` skips the timings.

An I/O workload whose best thread count is far from the default (300 waits of 100 ms):
auto's pool, resized as it runs, against the best fixed count (target within 1.15x).

Two batches whose items change nature halfway (waits, then pure Python; pure Python, then
waits): auto, which moves the batch to the other mode as it runs, against the best fixed mode
(target within 1.2x). ``--nature-only`` runs only these.

Last, the cold start: ``import gilwise; list(gilwise.map(f, [1]))`` as a whole process against
the same with ``ProcessPoolExecutor`` (medians of several runs). Target: no slower. Auto starts
no process for one item: ``ThreadPoolExecutor`` and a plain call are shown beside it, for scale.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import _workloads as w  # noqa: E402
import gilwise  # noqa: E402
from _harness import exit_status, parser, render, verdict  # noqa: E402

SERVER = textwrap.dedent("""
    import sys, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self):
            time.sleep(0.02)  # a server 20 ms away
            body = b"x" * 20_000
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    ThreadingHTTPServer.request_queue_size = 256
    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    print(server.server_address[1], flush=True)
    server.serve_forever()
""")


def workloads(quick: bool) -> list[tuple[str, object, list]]:
    n = 16 if quick else 48
    return [
        ("pure-Python loop", w.python_loop, [150_000] * n),
        ("JSON parse + dump", w.json_roundtrip, list(range(n))),
        ("regex on large text", w.regex_scan, list(range(n))),
        ("sleep 20 ms", w.sleep, [0.02] * (4 * n)),
        ("HTTP GET, 127.0.0.1", w.http_get, [f"/{i}" for i in range(4 * n)]),
        ("subprocesses", w.run_subprocess, list(range(n // 2))),
        ("hashlib sha256 4 MiB", w.sha256, list(range(4 * n))),
        ("zlib 4 MiB", w.compress, list(range(n // 2))),
    ]


#: held to its own target (1.3x): the whole batch takes tens of milliseconds, about what
#: measuring can take, so auto must notice and not start workers
TINY = [("tiny: 200,000 x (x + 1)", w.increment, range(200_000))]

#: the manual thread counts tried; the fastest is the one auto is held to
THREAD_COUNTS = (2, 8, 32, 128)
#: (mode, workers): None is the mode's default (processes: one per usable core)
CHOICES = [("threads", k) for k in THREAD_COUNTS] + [("processes", None), ("auto", None)]


def threads_settled(timeout: float = 5.0) -> None:
    """Wait, untimed, for the threads an earlier contender left exiting (a pool's close does
    not wait for idle threads): each contender starts from the same quiet process, and none
    pays for the one before it (auto's probe waits for them, a fixed pool runs beside them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(
            t.name.startswith("gilwise") for t in threading.enumerate()):
        time.sleep(0.001)


def run_batch(fn, items, mode: str, workers: int | None) -> tuple[float, str]:
    threads_settled()
    started = time.perf_counter()
    with gilwise.Pool(mode=mode, workers=workers) as pool:
        results = pool.map(fn, items, progress=False)
        list(results)
        chose = f"{results.info.mode}×{results.info.workers}"
    return time.perf_counter() - started, chose


def stability_workloads() -> list[tuple[str, object, list, bool]]:
    """(name, function, items, whether it is I/O-bound) for the stability table."""
    loads: list[tuple[str, object, list, bool]] = [
        ("pure-Python loop", w.python_loop, [150_000] * 10, False),
        ("json.loads, large document", w.json_parse, list(range(10)), False),
        ("re.findall, large text", w.regex_scan, list(range(10)), False),
        ("time.sleep 20 ms", w.sleep, [0.02] * 10, True),
        ("socket reads, local server", w.http_get, [f"/{i}" for i in range(20)], True),
        ("a subprocess", w.run_subprocess, list(range(4)), True),
        ("hashlib.sha256 4 MiB", w.sha256, list(range(10)), False),
        ("zlib.compress 2 MiB", w.compress_2mb, list(range(10)), False),
    ]
    try:
        import numpy  # noqa: F401
    except ImportError:
        return loads
    return [*loads, ("NumPy matmul 400x400", w.matmul, list(range(20)), False)]


def decisions(fn, items, runs: int) -> Counter:
    return Counter(gilwise.explain(fn, items).mode for _ in range(runs))


def stability(runs: int) -> list[bool]:
    """The stability table: decisions per workload out of ``runs``, quiet and busy."""
    rows = [("workload", "quiet", "one core busy", "same mode")]
    passed = []
    need = runs - runs // 20  # 19 of 20
    for name, fn, items, io_bound in stability_workloads():
        quiet = decisions(fn, items, runs)
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            time.sleep(0.1)
            busy = decisions(fn, items, runs)
        finally:
            spinner.kill()
            spinner.wait()
        steady = [c.most_common(1)[0][1] >= need for c in (quiet, busy)]
        never = not io_bound or (quiet["processes"] + busy["processes"] == 0)
        passed.append(all(steady) and never)
        rows.append((name, _counts(quiet), _counts(busy), "yes" if passed[-1] else "NO"))
    print(render(f"Auto's decisions out of {runs} (gilwise.explain), quiet and with another "
                 "process keeping one core busy", rows))
    print()
    print(verdict(all(passed), f"the same mode in at least {need} of {runs} runs for every "
                  "workload, quiet and busy; I/O-bound work never in processes"))
    return [all(passed)]


def far_io(repeats: int) -> list[bool]:
    """300 concurrent waits of 100 ms: auto (adaptive) against fixed thread counts."""
    items = [0.1] * 300
    counts = (32, 64, 128, 300)
    times: dict[str, list[float]] = {f"threads×{k}": [] for k in counts}
    times["auto"] = []
    grew = ""
    for _ in range(repeats):
        for k in counts:
            times[f"threads×{k}"].append(run_batch(w.sleep, items, "threads", k)[0])
        threads_settled()
        started = time.perf_counter()
        results = gilwise.map(w.sleep, items, progress=False)
        list(results)
        times["auto"].append(time.perf_counter() - started)
        grew = " -> ".join([str(results.info.changes[0].before)] + [
            str(c.after) for c in results.info.changes]) if results.info.changes else "none"
    med = {name: statistics.median(t) for name, t in times.items()}
    best = min((v, k) for k, v in med.items() if k != "auto")
    rows = [("choice", "median s")] + [(name, f"{v:.3f}") for name, v in med.items()]
    print(render(f"300 waits of 100 ms (median of {repeats}); auto's pool: {grew}", rows))
    print()
    ratio = med["auto"] / best[0]
    passed = ratio <= 1.15
    print(verdict(passed, f"auto within 1.15x of the best fixed count ({best[1]}): {ratio:.2f}x"))
    return [passed]


def changing_nature(repeats: int) -> list[bool]:
    """Batches whose items change nature halfway: auto against the best fixed mode."""
    from _work import calibrate

    ms10, ms50 = calibrate(0.01), calibrate(0.05)
    batches = [
        ("40 waits of 50 ms, then 200 x 10 ms pure Python",
         [("wait", 0.05)] * 40 + [("spin", ms10)] * 200),
        ("20 x 50 ms pure Python, then 200 waits of 50 ms",
         [("spin", ms50)] * 20 + [("wait", 0.05)] * 200),
    ]
    rows = [("batch", "best threads s", "processes s", "auto s", "auto's moves", "auto / best")]
    passed = []
    for name, items in batches:
        times: dict[tuple[str, int | None], list[float]] = {c: [] for c in CHOICES}
        moves = ""
        for _ in range(repeats):  # round-robin: outside load lands on every choice alike
            for mode, workers in CHOICES:
                if mode == "auto":
                    threads_settled()
                    started = time.perf_counter()
                    results = gilwise.map(w.wait_or_spin, items, progress=False)
                    list(results)
                    times[mode, workers].append(time.perf_counter() - started)
                    moves = "; ".join(str(c) for c in results.info.changes
                                      if "->" in str(c) and "workers" not in str(c)) or "none"
                else:
                    times[mode, workers].append(run_batch(w.wait_or_spin, items, mode,
                                                          workers)[0])
        med = {choice: statistics.median(t) for choice, t in times.items()}
        threads = min(THREAD_COUNTS, key=lambda k: med["threads", k])
        best = min(med["threads", threads], med["processes", None])
        ratio = med["auto", None] / best
        passed.append(ratio <= 1.2)
        rows.append((name, f"{med['threads', threads]:.3f} (x{threads})",
                     f"{med['processes', None]:.3f}", f"{med['auto', None]:.3f}", moves,
                     f"{ratio:.2f}x"))
    print(render(f"Work that changes nature mid-batch (median of {repeats})", rows))
    print()
    print(verdict(all(passed), "auto within 1.2x of the best fixed mode on both batches "
                  f"(worst {max(float(r[-1][:-1]) for r in rows[1:]):.2f}x)"))
    return [all(passed)]


COLD = {
    "gilwise.map (auto)": "import gilwise\nlist(gilwise.map(abs, [1]))",
    # auto runs a one-item batch in its probe thread, starting no process: its like-for-like
    # peers are a thread pool and a plain call; ProcessPoolExecutor is what it saves
    "ThreadPoolExecutor": "from concurrent.futures import ThreadPoolExecutor\n"
                          "with ThreadPoolExecutor() as ex:\n    list(ex.map(abs, [1]))",
    "plain call": "list(map(abs, [1]))",
    "ProcessPoolExecutor": "from concurrent.futures import ProcessPoolExecutor\n"
                           "with ProcessPoolExecutor() as ex:\n    list(ex.map(abs, [1]))",
    "python -c pass": "pass",
}


def cold_start(runs: int) -> list[bool]:
    """Whole-process times of a one-item map, round-robin so outside load lands alike.

    Every contender runs with its modules' bytecode cached, as an installed package has it
    (pip compiles it at install): into a fresh cache folder, filled by one run of each first.
    Without it, a machine with PYTHONDONTWRITEBYTECODE set would time gilwise's compilation
    from source against the standard library's precompiled modules."""
    times: dict[str, list[float]] = {name: [] for name in COLD}
    with tempfile.TemporaryDirectory(prefix="gilwise-pycache-") as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        for rnd in range(runs + 1):
            for name, code in COLD.items():
                started = time.perf_counter()
                subprocess.run([sys.executable, "-c", code], check=True, env=env)
                if rnd:  # the first round fills the cache
                    times[name].append(time.perf_counter() - started)
    med = {name: statistics.median(t) for name, t in times.items()}
    rows = [("one-item map in a fresh process", "median s")]
    rows += [(name, f"{seconds:.3f}") for name, seconds in med.items()]
    print(render(f"Cold start, whole process, bytecode cached (median of {runs})", rows))
    print()
    ratio = med["gilwise.map (auto)"] / med["ProcessPoolExecutor"]
    passed = ratio <= 1.0
    print(verdict(passed, f"gilwise no slower than ProcessPoolExecutor from cold ({ratio:.2f}x)"))
    extra = {name: med["gilwise.map (auto)"] - med[name] for name in
             ("ThreadPoolExecutor", "plain call")}
    print("  (for scale: " + ", ".join(f"{1000 * ms:+.0f} ms against {name}"
                                       for name, ms in extra.items()) + ")")
    return [passed]


def auto_threads(chose: str) -> int | None:
    """The thread count in auto's choice ("threads×10"); None for processes."""
    mode, _, workers = chose.partition("×")
    return int(workers) if mode == "threads" and workers.isdigit() else None


def _counts(counter: Counter) -> str:
    return ", ".join(f"{mode} {n}" for mode, n in counter.most_common())


def main() -> int:
    p = parser(__doc__)
    p.add_argument("--stability-runs", type=int, default=None,
                   help="explain calls per workload in the stability table (default 20)")
    p.add_argument("--stability-only", action="store_true", help="only the stability table")
    p.add_argument("--nature-only", action="store_true",
                   help="only the batches whose items change nature halfway")
    args = p.parse_args()
    repeats = 1 if args.quick else 3
    if args.nature_only:
        return exit_status(changing_nature(repeats))
    runs = args.stability_runs or (5 if args.quick else 20)
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        w.set_server(f"http://127.0.0.1:{server.stdout.readline().strip()}")
        if args.stability_only:
            return exit_status(stability(runs))
        stable = stability(runs)
        print()
        rows = [("workload", "best threads s", "processes s", "auto s", "auto chose",
                 "auto / best")]
        ratios, tiny = [], 0.0
        for name, fn, items in workloads(args.quick) + TINY:
            times: dict[tuple[str, int | None], list[float]] = {c: [] for c in CHOICES}
            chose = ""
            for _ in range(repeats):  # round-robin: outside load lands on every choice alike
                for mode, workers in CHOICES:
                    seconds, used = run_batch(fn, items, mode, workers)
                    times[mode, workers].append(seconds)
                    chose = used if mode == "auto" else chose
                # auto's own thread count, fixed, is a peer too: is auto's choice worth its
                # measuring, and its resizing?
                picked = auto_threads(chose)
                if picked and picked not in THREAD_COUNTS:
                    times.setdefault(("threads", picked), []).append(
                        run_batch(fn, items, "threads", picked)[0])
            med = {choice: statistics.median(t) for choice, t in times.items()}
            counts_run = [k for mode, k in med if mode == "threads"]
            threads = min(counts_run, key=lambda k: med["threads", k])
            best_threads, processes = med["threads", threads], med["processes", None]
            auto = med["auto", None]
            ratio = auto / min(best_threads, processes)
            if name in {tiny_name for tiny_name, _, _ in TINY}:
                tiny = ratio
            else:
                ratios.append(ratio)
            rows.append((name, f"{best_threads:.3f} (x{threads})", f"{processes:.3f}",
                         f"{auto:.3f}", chose, f"{ratio:.2f}x"))
    finally:
        server.kill()
    counts = ", ".join(map(str, THREAD_COUNTS))
    print(render(f"Auto mode vs the best manual choice (threads: fastest of {counts} and "
                 f"auto's own count; "
                 f"processes: one per core; median of {repeats})", rows))
    print()
    within_11 = sum(r <= 1.1 for r in ratios)
    passed = [max(ratios) <= 1.2, within_11 > len(ratios) / 2, tiny <= 1.3]
    print(verdict(passed[0], "auto within 1.2x of the best manual choice everywhere "
                  f"(worst {max(ratios):.2f}x)"))
    print(verdict(passed[1],
                  f"auto within 1.1x on most workloads ({within_11} of {len(ratios)})"))
    print(verdict(passed[2], f"auto within 1.3x of the best manual choice on the tiny batch "
                  f"({tiny:.2f}x)"))
    print()
    far = far_io(1 if args.quick else 3)
    print()
    nature = changing_nature(repeats)
    print()
    return exit_status(passed + stable + far + nature + cold_start(5 if args.quick else 15))


if __name__ == "__main__":
    sys.exit(main())
