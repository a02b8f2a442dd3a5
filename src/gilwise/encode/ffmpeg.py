"""Running the bundled FFmpeg binary (imageio-ffmpeg's static build): a child that dies with
the thread that started it, reports its progress in seconds, and can be stopped from outside
(a timeout, Ctrl-C). One FFmpeg process per encode: a crash or hang costs only that encode."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence


class FFmpegError(Exception):
    """FFmpeg failed: its last line of errors, or why it was stopped."""


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """The FFmpeg binary: $GILWISE_FFMPEG, else the one imageio-ffmpeg ships."""
    override = os.environ.get("GILWISE_FFMPEG")
    if override:
        return override
    try:
        import imageio_ffmpeg
    except ImportError:
        raise FFmpegError("FFmpeg is missing: pip install 'gilwise[encode]'") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


_BRACKETS = re.compile(r"^(\[[^\]]*\]\s*)+")
_live: set[subprocess.Popen] = set()
_live_lock = threading.Lock()
_stopping = threading.Event()


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGKILL when the thread that started it ends, so
    that a killed gilwise leaves no FFmpeg encoding on behind it."""
    _prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def run(args: Sequence[str], on_progress: Callable[[float], None] | None = None,
        timeout: float | None = None) -> None:
    """Run ``ffmpeg args...``; call ``on_progress(seconds of output done)`` as it goes.
    Raise FFmpegError on failure, on ``timeout`` (FFmpeg killed), or if stop_all() ran."""
    if _stopping.is_set():
        raise FFmpegError("stopped before it started")
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-v", "error",
               "-progress", "pipe:1", *args]
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: it never fills and blocks
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=errors, preexec_fn=_die_with_parent if _prctl else None)
        with _live_lock:
            _live.add(proc)
        timer = None
        timed_out = threading.Event()
        if timeout is not None:
            timer = threading.Timer(timeout, lambda: (timed_out.set(), _kill(proc)))
            timer.daemon = True
            timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if on_progress and line.startswith(b"out_time_us=") and line[12:].strip():
                    with contextlib.suppress(ValueError):
                        on_progress(max(0, int(line[12:])) / 1e6)
            code = proc.wait()
        finally:
            if timer:
                timer.cancel()
            _kill(proc)
            with _live_lock:
                _live.discard(proc)
        if timed_out.is_set():
            raise FFmpegError(f"timed out after {timeout:g} s (FFmpeg killed)")
        if _stopping.is_set() and code != 0:
            raise FFmpegError("stopped (interrupted)")
        if code != 0:
            errors.seek(0)
            lines = [x for x in errors.read().decode(errors="replace").splitlines() if x.strip()]
            # the first error is the cause; FFmpeg's threads then report their own endings
            reason = _BRACKETS.sub("", lines[0]).strip() if lines else f"exit status {code}"
            raise FFmpegError(f"ffmpeg failed: {reason}")


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()


def stop_all() -> None:
    """Kill every FFmpeg this process runs now and refuse new ones (Ctrl-C, a closed batch);
    allow() lifts the refusal."""
    _stopping.set()
    with _live_lock:
        procs = list(_live)
    for proc in procs:
        _kill(proc)


def allow() -> None:
    _stopping.clear()
