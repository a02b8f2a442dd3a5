"""One ``gilwise encode`` batch: plan the outputs, probe the inputs, encode them on
``gilwise.map`` (threads waiting on FFmpeg processes, or ``--split``'s chunks), one record
each."""

from __future__ import annotations

import contextlib
import functools
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gilwise
from gilwise.encode import ffmpeg, transcode
from gilwise.encode.plan import Job, clean_stale, plan
from gilwise.encode.probe import ProbeError, probe
from gilwise.encode.recipes import SettingsError, settings_from
from gilwise.encode.split import split_encode
from gilwise.encode.transcode import Record

MODES = ("threads", "auto", "processes")  # the --mode choices
THREADS_REASON = ("each encode is an FFmpeg process that a thread waits on, GIL released "
                  "(--mode auto: measured instead)")


class Batch:
    """A planned batch: iterate it to encode, one Record per input as each finishes.
    After (or while) iterating: ``mode``, ``workers``, ``reason``, ``threads``, ``cleaned``."""

    def __init__(self, jobs: list[Job], skipped: list[Job], missing: list[str], *,
                 workers: int, mode: str, dry_run: bool, timeout: float | None,
                 split: bool, chunk_seconds: float, decode_all: bool,
                 on_progress: Callable[[float, float], None] | None) -> None:
        self.jobs: list[Job] = jobs
        self.skipped: list[Job] = skipped
        self.missing: list[str] = missing
        self.workers: int = workers
        self.mode: str = mode
        self.dry_run: bool = dry_run
        self.threads: int = jobs[0].settings.threads if jobs else 1
        self.reason: str = "nothing to encode" if not jobs \
            else THREADS_REASON if mode == "threads" else ""
        self.timeout: float | None = timeout
        self.split: bool = split
        self.chunk_seconds: float = chunk_seconds
        self.decode_all = decode_all
        self.cleaned: list[Path] = []
        self.resumed: int = 0  # --split: chunks found done in the journal of an interrupted run
        self.on_progress = on_progress
        self.durations: dict[str, float] = {j.input: _duration(j.input) for j in jobs}
        self.total_seconds: float = sum(self.durations.values())
        self._done: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self.jobs) + len(self.skipped) + len(self.missing)

    def seconds_done(self) -> float:
        return sum(self._done.values())

    def report(self, source: str, seconds: float) -> None:
        """``seconds`` of ``source`` (an input, or a --split chunk) are encoded so far."""
        self._done[source] = seconds
        if self.on_progress:
            self.on_progress(self.seconds_done(), self.total_seconds)

    def finished(self, source: str, seconds: float,
                 parts: list[str] | tuple[str, ...] = ()) -> None:
        """``source`` is done: its ``seconds`` count whole, in place of its ``parts``' (its
        --split chunks, those resumed from a journal included)."""
        for part in parts:
            self._done.pop(part, None)
        self.report(source, seconds)

    def ran(self, info: gilwise.RunInfo) -> None:
        """Note how gilwise ran the jobs (auto's reason when it measured)."""
        self.mode, self.workers = info.mode, info.workers
        if self.reason != THREADS_REASON:
            self.reason = info.reason
        self.resumed += info.from_journal

    def __iter__(self) -> Iterator[Record]:
        for miss in self.missing:
            yield Record(miss, "", ok=False, status="failed", error="no such file")
        for job in self.skipped:
            yield Record(job.input, job.output, ok=True, status="skipped",
                         out_bytes=os.path.getsize(job.output) if os.path.exists(job.output)
                         else 0)
        if self.dry_run:
            for job in self.jobs:
                yield Record(job.input, job.output, ok=True, status="planned",
                             duration=_duration(job.input))
            return
        if not self.jobs:
            return
        yield from self._run()

    def _run(self) -> Iterator[Record]:
        ffmpeg.allow()
        finished = False
        try:
            if self.split:
                yield from split_encode(self)
            else:
                yield from self._map()
            finished = True
        finally:
            if not finished:  # Ctrl-C, an error, the caller stopped reading: stop FFmpeg now
                ffmpeg.stop_all()
                for job in self.jobs:
                    with contextlib.suppress(OSError):
                        os.unlink(job.temp)

    def _map(self) -> Iterator[Record]:
        """Every job through ``gilwise.map``, one FFmpeg each, the longest first (a long
        file started last would finish alone on one core); records as they finish."""
        task = functools.partial(transcode.transcode, timeout=self.timeout,
                                 decode_all=self.decode_all,
                                 progress=transcode.ProgressSink(self.report))
        longest_first = sorted(self.jobs, key=lambda job: -self.durations[job.input])
        results = gilwise.map(task, longest_first, mode=self.mode, workers=self.workers,
                              chunksize=1, ordered=False, outcomes=True, on_error="return",
                              progress=False)
        try:
            for outcome in results:
                self.ran(results.info)
                record = outcome.value if outcome.ok else _crashed(outcome)
                self.finished(record.input, record.duration)
                yield record
        finally:
            results.close()


def encode(inputs: list[str | Path] | str | Path, out_dir: str | Path, *,
           recipe: str | None = None, codec: str | None = None, crf: int | None = None,
           preset: str | None = None, scale: str | None = None, fps: float | None = None,
           audio: str | None = None, audio_bitrate: str | None = None, no_audio: bool = False,
           format: str | None = None, threads: int | None = None, workers: int | None = None,
           mode: str = "threads", force: bool = False, dry_run: bool = False,
           timeout: float | None = None, split: bool = False, chunk_seconds: float = 10.0,
           verify_decode: bool = False,
           on_progress: Callable[[float, float], None] | None = None) -> Batch:
    """Plan the batch and check every option now (SettingsError names a bad one, before any
    work); iterating the Batch encodes, one Record per input. Each output is verified before
    it is renamed into place: read to the end, first frame decoded (``verify_decode``: every
    frame), duration and streams checked. Stale temporary files of a
    killed run are removed from ``out_dir`` first (not in a dry run)."""
    try:
        ffmpeg.ffmpeg_exe()
        import av  # noqa: F401 - probes and verifies
    except (ffmpeg.FFmpegError, ImportError):
        raise SettingsError("FFmpeg is missing: pip install 'gilwise[encode]' "
                            "(imageio-ffmpeg and av)") from None
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    cores = gilwise.usable_cores()
    _check_batch(workers, mode, timeout, chunk_seconds)
    options = dict(codec=codec, crf=crf, preset=preset, scale=scale, fps=fps, audio=audio,
                   audio_bitrate=audio_bitrate, no_audio=no_audio or None, format=format,
                   threads=threads)
    settings = settings_from(recipe, **options)
    draft = plan(list(inputs), out_dir, settings, force=force)
    workers = workers or cores
    if threads is None and not split:  # parallel encodes first; spare cores to each encoder
        spare = max(1, cores // max(1, min(workers, len(draft.jobs))))
        if spare > 1:
            settings = settings_from(recipe, **{**options, "threads": spare})
            draft = plan(list(inputs), out_dir, settings, force=force)
    batch = Batch(draft.jobs, draft.existing, draft.missing, workers=workers, mode=mode,
                  dry_run=dry_run, timeout=timeout, split=split,
                  chunk_seconds=chunk_seconds, decode_all=verify_decode,
                  on_progress=on_progress)
    if not dry_run:
        batch.cleaned = clean_stale(out_dir)
    return batch


def _check_batch(workers: Any, mode: Any, timeout: Any, chunk_seconds: Any) -> None:
    """The batch's own options, named as the command line names them."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)):
        raise SettingsError(f"--workers {workers!r}: must be a whole number")
    if workers is not None and workers < 1:
        raise SettingsError(f"--workers {workers}: must be at least 1")
    if mode not in MODES:
        raise SettingsError(f"--mode {mode!r}: not one of {', '.join(MODES)}")
    for name, value in (("timeout", timeout), ("chunk-seconds", chunk_seconds)):
        if value is None and name == "timeout":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SettingsError(f"--{name} {value!r}: must be a number of seconds")
        if not 0 < value < math.inf:
            raise SettingsError(f"--{name} {value:g}: must be more than 0")


def _duration(path: str) -> float:
    try:
        return probe(path).duration
    except ProbeError:
        return 0.0


def _crashed(outcome: gilwise.Outcome) -> Record:
    """A job that raised instead of returning its record (a bug, or its worker died)."""
    failure = outcome.failure
    job: Job = outcome.item
    error = f"{failure.exc_type}: {failure.message}" if failure else "failed"
    return Record(job.input, job.output, ok=False, status="failed", error=error)

