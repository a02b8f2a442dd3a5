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
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
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


def cli_loop(clips: list[Path], out: Path, threads: list[str]) -> None:
    for clip in clips:
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), *X264, *threads,
                        str(out / (clip.stem + ".mp4"))], check=True)


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
    cs = [
        h.Contender("gilwise encode --split", frames,
                    lambda: gilwise_encode([long], out, split=True)),
        h.Contender("gilwise encode, unsplit (x264 on every core)", frames,
                    lambda: gilwise_encode([long], out)),
    ]
    h.measure(cs, repeats)
    print(h.table(f"One {seconds} s clip (items: frames)", cs, unit="frames/s"))
    ratio = cs[1].median / cs[0].median
    ok = ratio >= SPLIT_TARGET
    print(h.verdict(ok, f"--split {ratio:.2f}x faster than the unsplit encode of one "
                        f"{seconds} s clip (target >= {SPLIT_TARGET})"))
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

        cs = [
            h.Contender("gilwise encode (defaults)", frames, lambda: gilwise_encode(clips, out),
                        setup=fresh),
            h.Contender("gilwise encode --mode auto", frames,
                        lambda: gilwise_encode(clips, out, mode="auto"), setup=fresh),
            h.Contender("FFmpeg CLI loop, default threads", frames,
                        lambda: cli_loop(clips, out, []), setup=fresh),
            h.Contender("FFmpeg CLI loop, 1 thread", frames,
                        lambda: cli_loop(clips, out, ["-threads", "1"]), setup=fresh),
        ]
        h.measure(cs, repeats)
        loop = cs[2]
        print(f"{count} clips x {seconds} s, 640x360 30 fps -> x264 medium crf 23 + AAC; "
              f"{usable_cores()} usable cores; FFmpeg {ffmpeg_exe()}")
        print(h.table("Batch encoding (items: frames)", cs, unit="frames/s",
                      extra={"vs default-threads loop": lambda c:
                             f"{loop.median / c.median:.2f}x"}))
        ratio = loop.median / cs[0].median
        passed = [ratio >= TARGET]
        print(h.verdict(passed[0], f"gilwise encode {ratio:.2f}x faster than the sequential "
                                   f"default-threads FFmpeg loop (target >= {TARGET})"))
        passed.append(bench_split(work, 20 if args.quick else 60, repeats))
        return h.exit_status(passed)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
