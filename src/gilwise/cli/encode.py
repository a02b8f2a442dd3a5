"""The ``gilwise encode`` subcommand: parse, call :func:`gilwise.encode.encode`, print a
line per file, a progress bar (seconds of video done / total) and a summary."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from gilwise.cli.argtypes import number
from gilwise.encode.recipes import RECIPES, SettingsError
from gilwise.progress import same_terminal

if TYPE_CHECKING:  # rich and the encoder load when `encode` runs, not with every command
    from rich.console import Console

    from gilwise.encode.batch import Batch
    from gilwise.encode.transcode import Record

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130




def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``encode`` to the ``gilwise`` command's subparsers."""
    e = subparsers.add_parser(
        "encode", help="transcode videos in parallel with FFmpeg (folders recursively)",
        description="Transcode every video given (folders recursively) into OUTPUT, mirroring "
        "the input tree. Each output is written under a temporary name, verified (it decodes, "
        "its duration matches, it has the streams asked for) and only then renamed: an "
        "interrupted batch run again encodes only what is missing.",
        epilog="examples: gilwise encode videos/ -o encoded/ --recipe web;  "
        "gilwise encode a.mov b.mkv -o out/ --codec h265 --crf 26 --scale 1280:-2")
    e.add_argument("inputs", nargs="+", metavar="INPUT", help="video files or folders")
    e.add_argument("-o", "--output", required=True, help="output folder")
    e.add_argument("--recipe", help=f"{', '.join(RECIPES)}, or a JSON file of these options "
                   '(e.g. {"codec": "h265", "crf": 26}); options given here override it')
    e.add_argument("--codec", help="h264 (default), h265, vp9, av1, or any video encoder "
                   "of the bundled FFmpeg (ffmpeg -encoders)")
    e.add_argument("--crf", type=int, help="quality: lower is better and bigger "
                   "(default: h264 23, h265 28, vp9 31, av1 35)")
    e.add_argument("--preset", help="encoder speed: ultrafast ... medium ... veryslow "
                   "(mapped to vp9's cpu-used and SVT-AV1's preset), or the encoder's number")
    e.add_argument("--scale", metavar="W:H", help="resize, -2 keeps the aspect ratio with an "
                   "even size (e.g. 1280:-2)")
    e.add_argument("--fps", type=number(float, above=0), help="output frame rate")
    e.add_argument("--audio", help="aac (default; opus in webm), opus, mp3, or copy")
    e.add_argument("--audio-bitrate", help="e.g. 128k")
    e.add_argument("--no-audio", action="store_true", default=None, help="drop the audio")
    e.add_argument("--format", choices=("mp4", "mkv", "webm"),
                   help="container (default: mp4; webm for vp9 and av1)")
    e.add_argument("--workers", type=number(int, above=0), help="encodes at once (default: one per "
                   "usable core)")
    e.add_argument("--threads", type=number(int, above=0), help="threads per encoder (default: 1 "
                   "when there are files for every core; the spare cores otherwise)")
    e.add_argument("--mode", default="threads", choices=("threads", "auto", "processes"),
                   help="how gilwise drives the FFmpeg processes (default: threads; auto: "
                   "measured, and its reason shown)")
    e.add_argument("--timeout", type=number(float, above=0), help="seconds one file may take "
                   "(its FFmpeg is killed past it)")
    e.add_argument("--force", action="store_true", help="encode again outputs that exist")
    e.add_argument("--verify-decode", action="store_true", help="verify each output by "
                   "decoding every frame (default: read every packet, decode the first frame; "
                   "a full decode costs ~8%% of a single-thread encode)")
    e.add_argument("--dry-run", action="store_true", help="say what would be done; write "
                   "nothing")
    e.add_argument("--split", action="store_true", help="cut each input at keyframes and "
                   "encode the chunks in parallel (for a few long files)")
    e.add_argument("--chunk-seconds", type=number(float, above=0), default=10.0,
                   help="--split: about this long a chunk (default 10)")
    e.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    e.set_defaults(run=run)
    return e


def run(args: argparse.Namespace) -> int:
    """Run ``gilwise encode``; returns the exit code (0 all ok, 1 some failed, 2 usage,
    130 interrupted)."""
    from rich.console import Console

    from gilwise.encode import encode

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    out = Console(highlight=False, soft_wrap=True)
    try:
        batch = encode(args.inputs, args.output, recipe=args.recipe, codec=args.codec,
                       crf=args.crf, preset=args.preset, scale=args.scale, fps=args.fps,
                       audio=args.audio, audio_bitrate=args.audio_bitrate,
                       no_audio=bool(args.no_audio), format=args.format, threads=args.threads,
                       workers=args.workers, mode=args.mode, force=args.force,
                       dry_run=args.dry_run, timeout=args.timeout, split=args.split,
                       chunk_seconds=args.chunk_seconds, verify_decode=args.verify_decode)
    except SettingsError as exc:
        err.print(f"gilwise encode: error: {exc}", markup=False)
        return EXIT_USAGE
    show_bar = args.progress if args.progress is not None else sys.stderr.isatty()
    records: list[Record] = []
    started = time.perf_counter()
    bar = _bar(err, batch, show_bar)
    if bar.progress is not None and same_terminal():  # lines above the bar, not onto it
        out = err
    try:
        with bar:
            for record in batch:
                records.append(record)
                _line(out if record.ok else err, record)
    except KeyboardInterrupt:
        err.print(f"gilwise encode: interrupted after {len(records)} of {len(batch)} files; "
                  "run the same command again to encode the rest", markup=False)
        return EXIT_INTERRUPTED
    _summary(err, batch, records, time.perf_counter() - started)
    return EXIT_OK if all(r.ok for r in records) else EXIT_FAILED


class _bar:
    """A rich progress bar over seconds of video, fed by FFmpeg's progress from any thread."""

    def __init__(self, console: Console, batch: Batch, show: bool) -> None:
        self.progress = None
        if show and not batch.dry_run and batch.total_seconds > 0:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn("encode"), BarColumn(),
                                     TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
                                     TimeRemainingColumn(), console=console, transient=True)
            task = self.progress.add_task("encode", total=batch.total_seconds)
            batch.on_progress = lambda done, total: self.progress.update(task, completed=done)

    def __enter__(self) -> None:
        if self.progress:
            self.progress.start()

    def __exit__(self, *exc: object) -> None:
        if self.progress:
            self.progress.stop()


def _line(console: Console, r: Record) -> None:
    if r.status == "failed":
        console.print(f"FAILED {r.input}: {r.error}", markup=False)
    elif r.status == "skipped":
        console.print(f"skip   {r.output} (exists; --force to encode again)", markup=False)
    elif r.status == "planned":
        console.print(f"would  {r.input} -> {r.output} ({r.duration:.1f} s)", markup=False)
    else:
        console.print(f"ok     {r.output} ({r.duration:.1f} s of video, {_size(r.in_bytes)} "
                      f"-> {_size(r.out_bytes)}, {r.speed:.1f}x real time)", markup=False)


def _summary(console: Console, batch: Batch, records: list[Record], seconds: float) -> None:
    count = {s: sum(r.status == s for r in records) for s in
             ("encoded", "skipped", "failed", "planned")}
    if batch.dry_run:
        console.print(f"dry run: {count['planned']} to encode, {count['skipped']} already "
                      f"there, {count['failed']} missing; nothing written", markup=False)
        return
    done = [r for r in records if r.status == "encoded"]
    video = sum(r.duration for r in done)
    console.print(
        f"{len(records)} files: {count['encoded']} encoded, {count['skipped']} skipped, "
        f"{count['failed']} failed; {_size(sum(r.in_bytes for r in done))} -> "
        f"{_size(sum(r.out_bytes for r in done))}; {video:.1f} s of video in {seconds:.1f} s "
        f"({video / seconds if seconds else 0:.1f}x real time)", markup=False)
    if batch.jobs:
        console.print(f"mode: {batch.mode} x{batch.workers}, {batch.threads} encoder "
                      f"thread(s) each ({batch.reason})", markup=False)
    if batch.resumed:
        console.print(f"resumed: {batch.resumed} chunk(s) were done by an earlier run",
                      markup=False)
    if batch.cleaned:
        console.print(f"removed {len(batch.cleaned)} temporary file(s) left by a killed run",
                      markup=False)


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
