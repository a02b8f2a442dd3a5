"""One job: probe the input, encode it with FFmpeg into a temporary file beside the output,
verify that file (it decodes, its duration matches the input's, it has the streams asked
for), then rename it into place. Every failure is a record; no partial output is left."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gilwise.encode import ffmpeg
from gilwise.encode.plan import Job
from gilwise.encode.probe import MediaInfo, ProbeError, check_file, count_frames, probe
from gilwise.encode.recipes import (
    AUDIO,
    CODECS,
    CONTAINERS,
    PRESETS,
    SVT_AV1_PRESET,
    VP9_CPU_USED,
    Settings,
)


@dataclass
class Record:
    """What became of one input. ``speed``: seconds of video per second of work."""

    input: str
    output: str
    ok: bool
    status: str  # "encoded", "skipped" (the output was there), "failed", "planned" (dry run)
    error: str = ""
    duration: float = 0.0
    in_bytes: int = 0
    out_bytes: int = 0
    seconds: float = 0.0
    speed: float = 0.0
    frames: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class VerifyError(Exception):
    """The encoded file is not what was asked for; it is not kept."""


class ProgressSink:
    """Where a task reports (source, seconds of it encoded so far): the batch's ``report``
    in the batch's own process. Sent to a worker process it arrives empty: a job there is
    known when it ends (its Record), not as it goes."""

    def __init__(self, report: Callable[[str, float], None] | None) -> None:
        self._report = report

    def __call__(self, source: str, seconds: float) -> None:
        if self._report is not None:
            self._report(source, seconds)

    def __bool__(self) -> bool:
        return self._report is not None

    def __reduce__(self) -> tuple[type[ProgressSink], tuple[None]]:
        return ProgressSink, (None,)


def transcode(job: Job, timeout: float | None = None, decode_all: bool = False,
              progress: ProgressSink | None = None) -> Record:
    """Encode ``job.input`` into ``job.output``, never leaving a partial output
    (``decode_all``: verify by decoding every frame, not only the first; ``progress``: told
    how far it got)."""
    rec = Record(job.input, job.output, ok=False, status="failed")
    with contextlib.suppress(OSError):
        rec.in_bytes = os.path.getsize(job.input)
    with attempt(job, rec):
        check_file(job.input)
        Path(job.output).parent.mkdir(parents=True, exist_ok=True)
        report = (lambda s: progress(job.input, s)) if progress else None
        # FFmpeg starts first, the input probed after: the first moments of a job then wait
        # on FFmpeg like the rest of it (auto mode measures them), and only a failed encode
        # pays for asking why
        try:
            ffmpeg.run(command(job.input, job.temp, job.settings), report, timeout)
        except ffmpeg.FFmpegError:
            probe(job.input)  # a bad input: its own reason (not a video, truncated...)
            raise
        info = probe(job.input)
        rec.duration = info.duration
        rec.frames = verify(job.temp, info, job.settings, decode_all)
        publish(job)
    return rec if rec.error else encoded(rec, job)


@contextlib.contextmanager
def attempt(job: Job, rec: Record) -> Iterator[None]:
    """One job's encode (whole or split): an encoding error becomes ``rec.error``, the
    temporary output never outlives it, and ``rec.seconds`` is the time it took."""
    started = time.perf_counter()
    try:
        yield
    except (ProbeError, ffmpeg.FFmpegError, VerifyError, OSError) as exc:
        rec.error = _reason(exc)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(job.temp)
        rec.seconds = time.perf_counter() - started


def publish(job: Job) -> None:
    """The verified temporary file becomes the output, durably (on disk before the rename
    is, so a crash leaves the old state or the whole new file, never a torn one)."""
    _fsync(job.temp)
    os.replace(job.temp, job.output)
    _fsync(os.path.dirname(job.output) or ".")


def encoded(rec: Record, job: Job) -> Record:
    """``rec`` marked done, with the output's size and the speed as a multiple of real time."""
    rec.ok, rec.status = True, "encoded"
    rec.out_bytes = os.path.getsize(job.output)
    rec.speed = rec.duration / rec.seconds if rec.seconds > 0 else 0.0
    return rec


def command(src: str, dst: str, s: Settings, info: MediaInfo | None = None) -> list[str]:
    """FFmpeg's arguments for one encode (after the global ones ffmpeg.run adds)."""
    # -xerror: a decoding error fails the encode (a corrupt input is an error, not concealed)
    args = ["-y", "-xerror", "-threads", str(s.threads), "-i", src, "-map", "0:v:0"]
    codec = CODECS.get(s.codec)
    encoder = codec.encoder if codec else s.codec
    filters = []
    if s.scale:
        filters.append(f"scale={s.scale}")
    if codec is None or codec.even_size:  # 4:2:0 halves the chroma: width and height even
        filters.append("scale=trunc(iw/2)*2:trunc(ih/2)*2")
    if s.fps:
        filters.append(f"fps={s.fps:g}")
    if filters:
        args += ["-vf", ",".join(filters), "-filter_threads", str(s.threads)]
    args += ["-c:v", encoder, "-threads", str(s.threads)]
    if codec is not None:
        args += ["-pix_fmt", "yuv420p"]
    args += _quality(s, encoder)
    if s.no_audio or (info is not None and info.audio_codec is None):
        args += ["-an"]
    else:
        args += ["-map", "0:a:0?"]
        if s.audio == "copy":
            args += ["-c:a", "copy"]
        else:
            args += ["-c:a", AUDIO[s.audio][0]]
            if s.audio_bitrate:
                args += ["-b:a", s.audio_bitrate]
    muxer = CONTAINERS[s.container][0]
    if muxer == "mp4":
        args += ["-movflags", "+faststart"]
    return args + ["-sn", "-dn", "-f", muxer, dst]


def _quality(s: Settings, encoder: str) -> list[str]:
    """CRF and speed preset in each encoder's own words, and its threads held to N."""
    codec = CODECS.get(s.codec)
    crf = s.crf if s.crf is not None else (codec.crf if codec else None)
    args = ["-crf", str(crf)] if crf is not None else []
    level = PRESETS.index(s.preset) if s.preset in PRESETS else None
    if encoder in ("libx264", "libx265"):
        if s.preset:
            args += ["-preset", s.preset]
        if encoder == "libx265":
            args += ["-x265-params", f"pools={s.threads}:frame-threads={min(s.threads, 16)}"
                     ":log-level=error"]
    elif encoder == "libvpx-vp9":
        args += ["-b:v", "0", "-deadline", "good", "-row-mt", "0"]
        if s.preset:
            args += ["-cpu-used", str(VP9_CPU_USED[level] if level is not None else s.preset)]
    elif encoder == "libsvtav1":
        if s.preset:
            args += ["-preset", str(SVT_AV1_PRESET[level] if level is not None else s.preset)]
        args += ["-svtav1-params", f"lp={s.threads}"]
    elif s.preset:
        args += ["-preset", s.preset]
    return args


def verify(path: str, source: MediaInfo, s: Settings, decode_all: bool = False) -> int:
    """Check the encoded file: it reads to the end and decodes (its first frame, or every
    frame with ``decode_all``), its duration is within a frame or two of the input's, and it
    has the streams asked for. Returns its frame count."""
    try:
        out = probe(path)
        frames = count_frames(path, decode_all)
    except ProbeError as exc:
        raise VerifyError(f"the encoded file is unreadable: {exc}") from None
    frame = max(source.frame_seconds, 1 / s.fps if s.fps else 0.0)
    if abs(out.duration - source.duration) > 2.5 * frame:
        raise VerifyError(f"the encoded file lasts {out.duration:.3f} s, the input "
                          f"{source.duration:.3f} s: the input is truncated or corrupt")
    if frames == 0:
        raise VerifyError("the encoded file has no video frames")
    wants_audio = source.audio_codec is not None and not s.no_audio
    if wants_audio and out.audio_codec is None:
        raise VerifyError("the encoded file lost its audio stream")
    if not wants_audio and out.audio_codec is not None:
        raise VerifyError("the encoded file has audio where none was asked for")
    return frames


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    return str(exc)
