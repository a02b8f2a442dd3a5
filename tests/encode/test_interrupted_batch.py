"""A batch interrupted mid-encode (Ctrl-C, kill -9 of the CLI), then run again: every output
complete, no FFmpeg left running, no temporary file left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from _clips import leftovers, make_clip, put, still_running, wait_for

from gilwise.encode import encode
from gilwise.encode.probe import count_frames

SRC = str(Path(__file__).resolve().parents[2] / "src")
CLIPS, FRAMES = 2, 180


@pytest.fixture(scope="module")
def slow_clip(tmp_path_factory) -> Path:
    """6 s at 320x240: a single-thread veryslow encode of it takes seconds, not a blink."""
    return make_clip(tmp_path_factory.mktemp("slow") / "slow.mkv", seconds=6, size="320x240")


def command(*extra: str) -> list[str]:
    return [sys.executable, "-m", "gilwise", "encode", "in", "-o", "out", "--preset",
            "veryslow", *extra]


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_an_interrupted_batch_rerun_gives_every_output_and_no_temporary_file(
        tmp_path, slow_clip, how):
    for i in range(CLIPS):
        put(slow_clip, tmp_path / "in" / f"clip {i}.mkv")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": SRC}
    cli = subprocess.Popen(command("--workers", "1"), cwd=tmp_path, env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: out.exists() and leftovers(out))  # FFmpeg is writing a temporary file
    encoders = psutil.Process(cli.pid).children(recursive=True)
    assert any("ffmpeg" in p.name() for p in encoders)
    cli.send_signal(how)  # to the CLI alone, not its process group: it must stop FFmpeg itself
    _, err = cli.communicate(timeout=60)
    if how == signal.SIGINT:
        assert cli.returncode == 130, err
        assert "interrupted" in err and leftovers(out) == []
    else:
        assert cli.returncode == -signal.SIGKILL
    # no FFmpeg encodes on for nobody (its encode had seconds of work left)
    assert still_running(encoders, seconds=0.5) == []
    for done in out.rglob("*.mp4"):  # what a killed run left is complete or absent
        assert count_frames(done) == FRAMES

    rerun = subprocess.run(command(), cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(p.name for p in out.glob("*.mp4")) == [f"clip {i}.mp4" for i in range(CLIPS)]
    assert all(count_frames(p) == FRAMES for p in out.glob("*.mp4"))
    assert leftovers(out) == []
    if how == signal.SIGKILL:
        assert "temporary file(s) left by a killed run" in rerun.stderr


def test_stopping_a_batch_early_stops_its_ffmpeg_and_removes_its_temporary_file(
        tmp_path, slow_clip):
    for i in range(CLIPS):
        put(slow_clip, tmp_path / "in" / f"clip {i}.mkv")
    out = tmp_path / "out"
    records = iter(encode([tmp_path / "in"], out, preset="veryslow", mode="threads",
                          workers=1))
    assert next(records).ok
    wait_for(lambda: leftovers(out))  # the second encode has started...
    encoders = [p for p in psutil.Process().children() if "ffmpeg" in p.name()]
    assert encoders
    records.close()  # ...when the caller stops reading: it is stopped, not waited for
    assert still_running(encoders, seconds=0) == []
    assert leftovers(out) == [] and len(list(out.glob("*.mp4"))) == 1
