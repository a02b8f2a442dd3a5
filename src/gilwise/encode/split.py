"""``--split``: one long input cut at keyframes into chunks of about ``chunk_seconds``
(stream copy, nothing re-encoded), the chunks encoded in parallel with ``gilwise.map`` and
its journal (a re-run encodes only the chunks not done), the audio encoded once over the
whole input, then everything joined (concat demuxer, stream copy), verified and renamed."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import gilwise
from gilwise.encode import ffmpeg
from gilwise.encode.plan import Job
from gilwise.encode.probe import MediaInfo, probe
from gilwise.encode.recipes import AUDIO, CONTAINERS, Settings
from gilwise.encode.transcode import (
    ProgressSink,
    Record,
    attempt,
    command,
    encoded,
    publish,
    verify,
)


@dataclass(frozen=True)
class Piece:
    """A part to encode: a video chunk (``source`` a stream-copied segment), or the whole
    input's audio. ``target`` appears only once complete (renamed into place)."""

    source: str
    target: str
    settings: Settings  # not the Job: its temporary names belong to one run, and the journal
    audio: bool = False  # knows a piece by its digest, the same in every run


def cut_points(keyframes: tuple[float, ...], chunk_seconds: float) -> list[float]:
    """Keyframes at which to cut: each time the one nearest to ``chunk_seconds`` after the
    last cut (so chunks stay near that length even where keyframes are sparse: x264 places
    one every 250 frames by default)."""
    points: list[float] = []
    last = keyframes[0] if keyframes else 0.0
    later = [t for t in keyframes if t > last]
    while later:
        best = min(later, key=lambda t: abs(t - (last + chunk_seconds)))
        points.append(best)
        last = best
        later = [t for t in later if t > last]
    return points


def work_folder(job: Job) -> Path:
    """Where a job's chunks live between runs: named after the input and the settings, so a
    re-run resumes only the very same encode (a temporary folder, hidden, beside the output)."""
    src = os.stat(job.input)
    digest = hashlib.sha1(repr((job.settings, os.path.abspath(job.input), src.st_size,
                                src.st_mtime_ns)).encode()).hexdigest()[:10]
    out = Path(job.output)
    return out.with_name(f".{out.name}.gilwise-split-{digest}")


def cut(job: Job, info: MediaInfo, chunk_seconds: float, folder: Path) -> list[Path]:
    """The input's video stream-copied into segments starting at keyframes (once: kept for a
    re-run)."""
    segments = folder / "segments"
    if not segments.is_dir():
        partial = folder / "segments.part"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        # a hair before each keyframe: the segment muxer cuts at the first keyframe from there
        times = ",".join(f"{t - 0.001:.6f}" for t in cut_points(info.keyframes, chunk_seconds))
        args = ["-y", "-i", job.input, "-map", "0:v:0", "-c", "copy", "-an", "-sn", "-dn",
                "-f", "segment", "-reset_timestamps", "1", "-segment_format", "matroska"]
        args += ["-segment_times", times] if times else []
        ffmpeg.run([*args, str(partial / "%05d.mkv")])
        partial.rename(segments)
    return sorted(segments.glob("*.mkv"))


def stale_folders(job: Job) -> list[Path]:
    """The chunk folders an earlier run left for the same output with other settings or an
    older input: they can no longer resume this encode."""
    current = work_folder(job)
    return [p for p in current.parent.glob(f".{Path(job.output).name}.gilwise-split-*")
            if p != current and p.is_dir()]


def encode_piece(piece: Piece, timeout: float | None = None,
                 progress: ProgressSink | None = None) -> str:
    """Encode one piece into a temporary name, then rename it: a piece file is complete."""
    target = Path(piece.target)
    temp = target.with_name(target.name + ".part")
    s = piece.settings
    if piece.audio:
        args = ["-y", "-i", piece.source, "-map", "0:a:0", "-vn", "-sn", "-dn",
                "-c:a", AUDIO[s.audio][0]]
        args += ["-b:a", s.audio_bitrate] if s.audio_bitrate else []
        args += ["-f", "matroska", str(temp)]
    else:
        args = command(piece.source, str(temp), replace(s, format="mkv", no_audio=True))
    report = (lambda t: progress(piece.source, t)) if progress and not piece.audio else None
    try:
        ffmpeg.run(args, report, timeout=timeout)
        os.replace(temp, target)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp)
    return piece.target


def join(job: Job, info: MediaInfo, chunks: list[str], audio: str | None,
         decode_all: bool = False) -> int:
    """Concatenate the encoded chunks (and the audio) into the job's temporary file and
    verify it against the input; returns its frame count."""
    listing = work_folder(job) / "chunks.txt"
    listing.write_text("".join("file '{}'\n".format(os.path.abspath(c).replace("'", "'\\''"))
                               for c in chunks),
                       encoding="utf-8")
    s = job.settings
    args = ["-y", "-f", "concat", "-safe", "0", "-i", str(listing)]
    wants_audio = info.audio_codec is not None and not s.no_audio
    if wants_audio:
        args += ["-i", audio or job.input, "-map", "0:v:0", "-map", "1:a:0"]
    args += ["-c", "copy"]
    muxer = CONTAINERS[s.container][0]
    if muxer == "mp4":
        args += ["-movflags", "+faststart"]
    ffmpeg.run([*args, "-f", muxer, job.temp])
    return verify(job.temp, info, s, decode_all)


class SplitBatch(Protocol):
    """What a split encode needs of its batch (``batch.Batch``)."""

    jobs: list[Job]
    mode: str
    workers: int
    timeout: float | None
    chunk_seconds: float
    decode_all: bool

    def report(self, source: str, seconds: float) -> None: ...

    def finished(self, source: str, seconds: float,
                 parts: list[str] | tuple[str, ...] = ()) -> None: ...

    def ran(self, info: gilwise.RunInfo) -> None: ...


def split_encode(batch: SplitBatch) -> Iterator[Record]:
    """Each job of ``batch`` in turn, its chunks in parallel (their progress the batch's);
    one Record per job."""
    for job in batch.jobs:
        yield _one(batch, job)


def _one(batch: SplitBatch, job: Job) -> Record:
    rec = Record(job.input, job.output, ok=False, status="failed")
    with attempt(job, rec):
        rec.in_bytes = os.path.getsize(job.input)
        info = probe(job.input, keyframes=True)
        rec.duration = info.duration
        folder = work_folder(job)
        for stale in stale_folders(job):
            shutil.rmtree(stale, ignore_errors=True)
        segments = cut(job, info, batch.chunk_seconds, folder)
        chunk_outputs = folder / "encoded"
        chunk_outputs.mkdir(exist_ok=True)
        pieces = [Piece(str(seg), str(chunk_outputs / seg.name), job.settings)
                  for seg in segments]
        s = job.settings
        if info.audio_codec is not None and not s.no_audio and s.audio != "copy":
            # last: short, it fills the gap the last video chunk leaves on the other cores
            pieces.append(Piece(job.input, str(chunk_outputs / "audio.mka"), s, audio=True))
        task = functools.partial(encode_piece, timeout=batch.timeout,
                                 progress=ProgressSink(batch.report))
        results = gilwise.map(task, pieces, mode=batch.mode, workers=batch.workers,
                              chunksize=1, ordered=True, journal=folder / "journal.sqlite",
                              key=lambda p: Path(p.target).name, retry_failed=True,
                              progress=False, on_error="return")
        try:
            done = []
            for piece in results:  # the first failed chunk, whatever it raised, stops them
                if isinstance(piece, gilwise.Failure):
                    message = str(gilwise.TaskError(piece)).splitlines()[0]
                    raise ffmpeg.FFmpegError(f"a chunk failed: {message}")
                done.append(piece)
        finally:
            results.close()
        batch.ran(results.info)
        audio = done[-1] if pieces and pieces[-1].audio else None
        chunks = [d for d, p in zip(done, pieces) if not p.audio]
        batch.finished(job.input, info.duration, [p.source for p in pieces])
        rec.frames = join(job, info, chunks, audio, batch.decode_all)
        publish(job)
        shutil.rmtree(folder, ignore_errors=True)
    return rec if rec.error else encoded(rec, job)
