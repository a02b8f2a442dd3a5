"""``gilwise demo``: the same CPU-bound batch run sequentially, in threads and in processes,
then what auto mode picks, with the speedups measured on this machine and what they show:
each claim is judged only where its control held (the lab's rule, ``gilwise.lab.model``)."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

import gilwise
from gilwise.lab.model import Check, Experiment, Row, decide, load_average
from gilwise.lab.report import verdict_markup
from gilwise.lab.runners import gil_enabled
from gilwise.lab.scaling import CPU_CLAIM, FREE_THREADED, HELPS, SPARE_CORES, cpu_verdict

AUTO_CLAIM = "auto mode picks the faster of threads and processes"
AUTO_CONTROL = f"one of the two is at least {HELPS}× faster: there is a better pick to make"


def collatz_steps(n: int) -> int:
    """Pure-Python CPU-bound work that holds the GIL: total Collatz steps below n."""
    total = 0
    for start in range(1, n):
        x = start
        while x != 1:
            x = x // 2 if x % 2 == 0 else 3 * x + 1
            total += 1
    return total


def gil_claim(sequential: float, threads: float, processes: float, cores: int,
              free_threaded: bool, load: float | None = None) -> Experiment:
    """The lab's CPU-bound claim on the demo's timings, with the same control: processes
    must scale for threads' lack of gain to say anything about the GIL."""
    exp = Experiment("demo-gil", "threads against processes", CPU_CLAIM, SPARE_CORES)
    label = FREE_THREADED if free_threaded else "threads"
    exp.rows += [Row(label, cores, threads, sequential / threads),
                 Row("processes", cores, processes, sequential / processes)]
    exp.judge(cpu_verdict(exp, cores, free_threaded, load))
    return exp


def auto_claim(threads: float, processes: float, chose: str) -> Experiment:
    """Auto's pick is judged only where one manual mode was clearly faster: else either
    pick is as good, and the demo cannot tell a good choice from a lucky one."""
    exp = Experiment("demo-auto", "auto mode's pick", AUTO_CLAIM, AUTO_CONTROL)
    faster, slower = (("processes", "threads") if processes < threads
                      else ("threads", "processes"))
    ratio = max(threads, processes) / min(threads, processes)
    claim = Check(f"auto picks {faster}", f"auto picked {chose}", chose == faster)
    control = Check(f"{HELPS}× or more between them",
                    f"{faster} {ratio:.2f}× faster than {slower}", ratio >= HELPS)
    exp.judge(decide(claim, control, "threads and processes were as fast here",
                     "it measured the first tasks", f"{faster} was faster here"))
    return exp


def _timed(run) -> tuple[float, list[int]]:
    started = time.perf_counter()
    results = run()
    return time.perf_counter() - started, results


def run_demo(
    items: int = 48, size: int = 5_000, console: Console | None = None, lab_out: Path | None = None
) -> int:
    console = console or Console()
    cores = gilwise.usable_cores()
    work = [size + i for i in range(items)]
    console.print(f"[bold]gilwise demo[/]: {items} CPU-bound tasks (pure Python) on {cores} "
                  "usable core(s)\n")
    rows = []
    base, expected = _timed(lambda: [collatz_steps(n) for n in work])
    rows.append(("sequential", "1", base, "the reference"))
    seconds_by_mode: dict[str, float] = {}
    chose = ""
    for mode in ("threads", "processes", "auto"):
        result = gilwise.map(collatz_steps, work, mode=mode, workers=None if mode == "auto"
                             else cores, progress=False)
        seconds, values = _timed(lambda r=result: list(r))
        if values != expected:
            console.print(f"[red]{mode} gave different results[/]")
            return 1
        info = result.info
        seconds_by_mode[mode] = seconds
        chose = info.mode if mode == "auto" else chose
        label = mode if mode != "auto" else f"auto → {info.mode}"
        rows.append((label, str(info.workers), seconds, info.reason))
    table = Table(title="The same batch four ways")
    for column in ("how", "workers", "seconds", "speedup", "why"):
        table.add_column(column, justify="right" if column in ("seconds", "speedup") else "left")
    for label, workers, seconds, why in rows:
        table.add_row(label, workers, f"{seconds:.2f}", f"{base / seconds:.2f}×", why)
    console.print(table)
    threads, processes = seconds_by_mode["threads"], seconds_by_mode["processes"]
    for exp in (gil_claim(base, threads, processes, cores, not gil_enabled(), load_average()),
                auto_claim(threads, processes, chose)):
        console.print(f"\nclaim: {exp.claim}\n{verdict_markup(exp)} on this machine: "
                      f"{exp.explanation}")
    across_step(console)
    encode_step(console)
    try:
        from gilwise.scrape.demo import scrape_step
    except ImportError:
        console.print("\n[dim]scrape step skipped: pip install 'gilwise[scrape]'[/]")
    else:
        scrape_step(console)
    if lab_out is not None:
        from gilwise.lab import run_lab

        console.print()
        run_lab(lab_out, quick=True, console=console)
    return 0


def across_step(console: Console) -> None:
    """The same CPU-bound claim on every other interpreter found (a 3.14 with sub-interpreters,
    a free-threaded build), one row each, with few rounds to stay quick."""
    from gilwise.lab.across import discover, measure
    from gilwise.lab.across_report import print_table

    pythons = discover()
    if len(pythons) < 2:
        console.print("\n[dim]across interpreters: skipped, no other Python found (see "
                      "`gilwise lab --python`)[/]")
        return
    console.print(f"\n[bold]across interpreters[/]: the lab's CPU-bound work on "
                  f"{len(pythons)} Pythons")
    report = measure(pythons, quick=True, rounds=2,
                     report_line=lambda line: console.print(f"[dim]{line}[/]", highlight=False,
                                                               soft_wrap=True))
    print_table(console, report)


def encode_step(console: Console, clips: int = 4, seconds: int = 3) -> None:
    """A few short clips encoded one after another with the FFmpeg CLI, then by
    ``gilwise encode`` in auto mode: the speedup, and what auto chose and why."""
    import subprocess
    import tempfile

    try:
        from gilwise.encode import encode
        from gilwise.encode.ffmpeg import ffmpeg_exe

        ffmpeg = ffmpeg_exe()
    except Exception:
        console.print("\n[dim]encode step skipped: pip install 'gilwise[encode]'[/]")
        return
    console.print(f"\n[bold]encode[/]: {clips} clips of {seconds} s (640x360) to x264 + AAC")
    with tempfile.TemporaryDirectory(prefix="gilwise-demo-") as tmp:
        folder = Path(tmp)
        made = []
        for i in range(clips):
            made.append(folder / f"clip{i}.mkv")
            subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:"
                            f"rate=30,noise=alls={10 + i}:allf=t", "-f", "lavfi", "-i", "sine",
                            "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast",
                            "-c:a", "aac", str(made[-1])], check=True)
        started = time.perf_counter()
        for clip in made:
            subprocess.run([ffmpeg, "-v", "error", "-i", str(clip), "-c:v", "libx264", "-c:a",
                            "aac", str(folder / f"{clip.stem}.mp4")], check=True)
        sequential = time.perf_counter() - started
        started = time.perf_counter()
        batch = encode(made, folder / "out", mode="auto")
        failed = [r for r in batch if not r.ok]
        parallel = time.perf_counter() - started
    if failed:
        console.print(f"[red]gilwise encode failed: {failed[0].input}: {failed[0].error}[/]")
        return
    console.print(f"one after another (FFmpeg CLI, its default threads): {sequential:.2f} s\n"
                  f"gilwise encode: {parallel:.2f} s, {sequential / parallel:.2f}× faster; auto "
                  f"chose {batch.mode}×{batch.workers}: {batch.reason}")
