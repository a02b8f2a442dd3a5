"""Batch video encoding: gilwise encode against a sequential loop of the FFmpeg CLI.

8 clips of 10 s (640x360, 30 fps, testsrc2 with noise, a sine tone), all to x264 medium
crf 23 + AAC, with the same FFmpeg binary (imageio-ffmpeg's). Contenders, side by side in one
run (round-robin repeats): the FFmpeg CLI in a loop with its default threads (what most
people script), the same loop with one encoder thread, and `gilwise encode` with its
defaults (one single-thread encode per core, each output verified: read to the end,
its first frame decoded).
Target: gilwise >= 1.15x faster than the default-threads loop (18.5 s against 21.8 s was
measured possible on this 2-core machine). And `--split` on one 60 s clip against the same
clip unsplit, both through gilwise encode: target >= 1.3x on 2 cores.

Beside each target, the bound the machine allows: a contender cannot finish before its own
CPU seconds (FFmpeg's and gilwise's, measured) spread perfectly over every core. A plain
"cores at once" runner of the same FFmpeg commands (xargs -P style, nothing verified) shows
what parallel single-thread encodes reach without gilwise. Other load on the machine
(printed: the load average, and the CPU seconds others used during each contender) makes
every ratio shrink toward 1: with every core busy anyway, the order of the work changes
nothing. Measured here with the machine otherwise idle (2026-11-25): the default-threads
loop already keeps the 2 cores ~92% busy, so the bound is 1.09x (target 1.15x kept); the
unsplit 60 s encode keeps them 94% busy, so --split's bound is 1.07x (target 1.3x kept:
it needs more cores than one x264 encode of 640x360 can use).
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import _harness as h
from gilwise import usable_cores
from gilwise.encode import encode
from gilwise.encode.ffmpeg import ffmpeg_exe

TARGET = 1.15
SPLIT_TARGET = 1.3
X264 = ["-c:v", "libx264", "-preset", "medium", "-crf", "23", "-c:a", "aac"]


def make_clips(folder: Path, count: int, seconds: int, gop: int = 250) -> list[Path]:
    """Clips in a lossless-ish x264 (``gop``: frames between keyframes, x264's default)."""
    clips = []
    for i in range(count):
        clip = folder / f"clip{i:02d}.mkv"
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=size=640x360:rate=30,noise=alls={12 + i}:allf=t", "-f",
                        "lavfi", "-i", f"sine=frequency={300 + 40 * i}", "-t", str(seconds),
                        "-c:v", "libx264", "-preset", "ultrafast", "-crf", "12", "-g", str(gop),
                        "-c:a", "aac",
                        str(clip)], check=True)
        clips.append(clip)
    return clips


def cli_command(clip: Path, out: Path, threads: list[str]) -> list[str]:
    return [ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), *X264, *threads,
            str(out / (clip.stem + ".mp4"))]


def cli_loop(clips: list[Path], out: Path, threads: list[str]) -> None:
    for clip in clips:
        subprocess.run(cli_command(clip, out, threads), check=True)


def cli_at_once(clips: list[Path], out: Path) -> None:
    """The same FFmpeg commands, one thread each, as many at once as there are cores (what
    `xargs -P` does): parallel encodes with nothing probed, verified or reported."""
    with ThreadPoolExecutor(usable_cores()) as pool:
        list(pool.map(lambda c: subprocess.run(cli_command(c, out, ["-threads", "1"]),
                                               check=True), clips))


class CPU:
    """CPU seconds of each contender's runs: this process's and its children's (FFmpeg),
    and the machine's busy time that was neither (other load)."""

    def __init__(self) -> None:
        self.own: dict[str, list[float]] = {}
        self.others: dict[str, list[float]] = {}

    def timed(self, name: str, run: Callable[[], object]) -> Callable[[], None]:
        def wrapper() -> None:
            busy, mine = _machine_busy(), _own_cpu()
            run()
            own = _own_cpu() - mine
            self.own.setdefault(name, []).append(own)
            self.others.setdefault(name, []).append(max(0.0, _machine_busy() - busy - own))
        return wrapper

    def median(self, name: str) -> float:
        return statistics.median(self.own[name])

    def column(self) -> dict[str, Callable[[h.Contender], str]]:
        return {"CPU s": lambda c: f"{self.median(c.name):.1f}",
                "others' CPU s": lambda c: f"{statistics.median(self.others[c.name]):.1f}"}


def _own_cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _machine_busy() -> float:
    """Seconds of CPU the whole machine has spent busy since boot (Linux; 0 elsewhere)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return 0.0
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # less idle, iowait


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def gilwise_encode(clips: list[Path], out: Path, **options) -> None:
    records = list(encode(clips, out, codec="h264", preset="medium", crf=23, audio="aac",
                          force=True, **options))
    failed = [r for r in records if not r.ok]
    if failed:
        raise SystemExit(f"gilwise encode failed: {failed[0].input}: {failed[0].error}")


def bench_split(work: Path, seconds: int, repeats: int) -> bool:
    """One long clip: --split (chunks in parallel) against the same clip unsplit."""
    folder = work / "long"
    folder.mkdir()
    (long,) = make_clips(folder, 1, seconds, gop=60)  # a keyframe every 2 s, as cameras do
    out = work / "out-split"
    frames = seconds * 30
    cpu = CPU()
    names = ("gilwise encode --split", "gilwise encode, unsplit (x264 on every core)")
    cs = [
        h.Contender(names[0], frames,
                    cpu.timed(names[0], lambda: gilwise_encode([long], out, split=True))),
        h.Contender(names[1], frames, cpu.timed(names[1], lambda: gilwise_encode([long], out))),
    ]
    h.measure(cs, repeats)
    print(h.table(f"One {seconds} s clip (items: frames; load average after: {load()})", cs,
                  unit="frames/s", extra=cpu.column()))
    ratio = cs[1].median / cs[0].median
    cores = usable_cores()
    bound = cs[1].median / (cpu.median(names[0]) / cores)
    busy = cpu.median(names[1]) / (cs[1].median * cores)
    ok = ratio >= SPLIT_TARGET
    print(h.verdict(ok, f"--split {ratio:.2f}x faster than the unsplit encode of one "
                        f"{seconds} s clip (target >= {SPLIT_TARGET})"))
    print(f"  bound: {bound:.2f}x at most on {cores} cores (--split's {cpu.median(names[0]):.1f} "
          f"CPU s over {cores} cores, against the unsplit's {cs[1].median:.1f} s, which kept "
          f"its cores {busy:.0%} busy with x264's own threads)")
    return ok


def main() -> int:
    args = h.parse_args(__doc__)
    count, seconds, repeats = (4, 3, 1) if args.quick else (8, 10, 3)
    work = Path(tempfile.mkdtemp(prefix="bench-encode-"))
    try:
        clips = make_clips(work, count, seconds)
        out = work / "out"
        frames = count * seconds * 30

        def fresh() -> None:
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()

        cpu = CPU()
        runs = {
            "gilwise encode (defaults)": lambda: gilwise_encode(clips, out),
            "gilwise encode --mode auto": lambda: gilwise_encode(clips, out, mode="auto"),
            "FFmpeg CLI loop, default threads": lambda: cli_loop(clips, out, []),
            "FFmpeg CLI loop, 1 thread": lambda: cli_loop(clips, out, ["-threads", "1"]),
            f"FFmpeg CLI, {usable_cores()} at once, 1 thread": lambda: cli_at_once(clips, out),
        }
        cs = [h.Contender(name, frames, cpu.timed(name, run), setup=fresh)
              for name, run in runs.items()]
        print(f"load average before: {load()}")
        h.measure(cs, repeats)
        loop, cores = cs[2], usable_cores()
        print(f"{count} clips x {seconds} s, 640x360 30 fps -> x264 medium crf 23 + AAC; "
              f"{cores} usable cores; FFmpeg {ffmpeg_exe()}")
        print(h.table(f"Batch encoding (items: frames; load average after: {load()})", cs,
                      unit="frames/s", extra={"vs default-threads loop": lambda c:
                                              f"{loop.median / c.median:.2f}x",
                                              **cpu.column()}))
        ratio = loop.median / cs[0].median
        bound = loop.median / (cpu.median(cs[0].name) / cores)
        passed = [ratio >= TARGET]
        print(h.verdict(passed[0], f"gilwise encode {ratio:.2f}x faster than the sequential "
                                   f"default-threads FFmpeg loop (target >= {TARGET})"))
        print(f"  bound: {bound:.2f}x at most (gilwise's {cpu.median(cs[0].name):.1f} CPU s "
              f"over {cores} cores, against the loop's {loop.median:.1f} s)")
        passed.append(bench_split(work, 20 if args.quick else 60, repeats))
        return h.exit_status(passed)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
