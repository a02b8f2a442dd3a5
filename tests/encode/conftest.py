"""Tiny clips made once per session with the bundled FFmpeg (a second or two, 160x120)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("av")
pytest.importorskip("imageio_ffmpeg")

from _clips import make_clip  # noqa: E402 - only once FFmpeg is known to be there


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Good and bad inputs, shared by every encode test (copy before changing them)."""
    d = tmp_path_factory.mktemp("clips")
    found = {
        "a": make_clip(d / "a.mp4"),
        "silent": make_clip(d / "silent.mp4", audio=False),
        "odd": make_clip(d / "odd.mkv", size="321x241", pix_fmt="yuv444p"),
        "long": make_clip(d / "long.mkv", seconds=6),
    }
    two = make_clip(d / "two.mkv", seconds=2)
    data = two.read_bytes()
    (d / "truncated.mkv").write_bytes(data[: len(data) // 2])  # plays half, claims 2 s
    found["truncated"] = d / "truncated.mkv"
    mp4 = found["a"].read_bytes()
    (d / "truncated.mp4").write_bytes(mp4[: len(mp4) // 2])  # its index (moov) is cut off
    found["truncated_mp4"] = d / "truncated.mp4"
    garbled = bytearray(mp4)
    for i in range(len(mp4) // 3, len(mp4) // 3 + 4000):  # frames' bytes garbled
        garbled[i] = (i * 7) & 255
    (d / "corrupt.mp4").write_bytes(bytes(garbled))
    found["corrupt"] = d / "corrupt.mp4"
    (d / "empty.mp4").write_bytes(b"")
    found["empty"] = d / "empty.mp4"
    (d / "notes.mp4").write_text("not a video at all\n")
    found["not_video"] = d / "notes.mp4"
    return found
