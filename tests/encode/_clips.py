"""Helpers of the encode tests: make a clip with the bundled FFmpeg, copy one, find leftovers."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import imageio_ffmpeg
import psutil

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def make_clip(path: Path, seconds: float = 1, size: str = "160x120", audio: bool = True,
              pix_fmt: str = "yuv420p") -> Path:
    """A testsrc2 clip (with a sine tone unless ``audio`` is False). An odd size needs a
    ``pix_fmt`` without chroma subsampling (yuv444p): FFmpeg crops it to even for 4:2:0."""
    width, height = (int(x) for x in size.split("x"))
    # testsrc2 makes even sizes only: an odd one is cropped from the next even size up
    source = (f"testsrc2=size={width + width % 2}x{height + height % 2}:rate=30,"
              f"format={pix_fmt},crop={width}:{height}")
    args = [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", source]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440"]
    args += ["-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-g", "30"]
    args += ["-pix_fmt", pix_fmt]
    args += ["-c:a", "aac"] if audio else []
    subprocess.run([*args, str(path)], check=True)
    return path



def put(clip: Path, where: Path) -> Path:
    """Copy ``clip`` to ``where`` (folders made), for a test's own input tree."""
    where.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(clip, where)
    return where


def leftovers(folder: Path) -> list[Path]:
    """Temporary files or chunk folders of gilwise encode under ``folder``."""
    return sorted(p for p in folder.rglob("*") if ".gilwise-" in p.name)


def wait_for(condition, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def still_running(processes: list[psutil.Process], seconds: float = 1.0) -> list:
    """Those of ``processes`` still running after ``seconds`` (a zombie has stopped: an
    orphan waits for a reaper that a container may not have)."""
    deadline = time.monotonic() + seconds
    while True:
        running = []
        for p in processes:
            try:
                if p.status() != psutil.STATUS_ZOMBIE:
                    running.append(p)
            except psutil.NoSuchProcess:
                pass
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.02)
