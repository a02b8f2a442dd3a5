"""``--split``: keyframe chunks encoded in parallel and joined, as long and with as many
frames as the unsplit encode, resumable per chunk."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from _clips import make_clip, still_running, wait_for

from gilwise.encode import encode
from gilwise.encode.probe import count_frames, probe
from gilwise.encode.split import cut_points

SRC = str(Path(__file__).resolve().parents[2] / "src")


def chunks_journalled(out: Path) -> int:
    """How many chunks the journal of a split encode under ``out`` has committed as done,
    read beside the run writing it (0 before it exists)."""
    for journal in out.glob(".*.gilwise-split-*/journal.sqlite"):
        try:
            with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
                return db.execute("SELECT count(*) FROM items WHERE ok = 1").fetchone()[0]
        except sqlite3.Error:  # not yet made, or busy
            return 0
    return 0


def test_cut_points_are_the_keyframes_nearest_a_chunk_length_apart():
    keyframes = (0.0, 1.0, 2.0, 2.5, 4.0, 4.5, 7.0, 8.0, 8.5)
    assert cut_points(keyframes, 2.0) == [2.0, 4.0, 7.0, 8.5]
    assert cut_points((0.0, 8.33, 16.67), 10.0) == [8.33, 16.67]  # x264's sparse keyframes
    assert cut_points(keyframes, 10.0) == [8.5]


def test_a_split_encode_lasts_as_long_and_has_the_frames_of_the_unsplit_one(tmp_path, clips):
    whole = next(iter(encode(clips["long"], tmp_path / "whole")))
    split = encode(clips["long"], tmp_path / "split", split=True, chunk_seconds=2)
    rec = next(iter(split))
    assert rec.ok and whole.ok, (rec.error, whole.error)
    source = probe(clips["long"])
    out = probe(rec.output)
    assert abs(out.duration - source.duration) <= 1 / 30 + 1e-3
    assert abs(count_frames(rec.output) - count_frames(whole.output)) <= 2
    assert out.audio_codec == "aac" and (out.width, out.height) == (160, 120)
    assert sorted(p.name for p in (tmp_path / "split").iterdir()) == ["long.mp4"]


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_an_interrupted_split_resumes_its_finished_chunks(tmp_path, how):
    (tmp_path / "in").mkdir()
    clip = make_clip(tmp_path / "in" / "long.mkv", seconds=6, size="320x240")
    env = {**os.environ, "PYTHONPATH": SRC}
    args = [sys.executable, "-m", "gilwise", "encode", "in", "-o", "out", "--split",
            "--chunk-seconds", "1", "--workers", "1", "--preset", "veryslow"]
    cli = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    out = tmp_path / "out"
    # the journal commits at least every half second: wait until it holds two chunks
    wait_for(lambda: chunks_journalled(out) >= 2)
    encoders = psutil.Process(cli.pid).children(recursive=True)
    cli.send_signal(how)
    cli.wait(timeout=30)
    assert cli.returncode == (130 if how == signal.SIGINT else -signal.SIGKILL)
    assert still_running(encoders, seconds=0.5) == []
    rerun = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert "resumed: " in rerun.stderr
    assert count_frames(out / "long.mp4") == 180
    assert abs(probe(clip).duration - probe(out / "long.mp4").duration) <= 1 / 30 + 1e-3
    assert sorted(p.name for p in out.iterdir()) == ["long.mp4"]  # no chunk folder left


def test_a_split_encode_reports_progress_as_its_chunks_encode(tmp_path, clips):
    seen: list[tuple[float, float]] = []
    batch = encode(clips["long"], tmp_path / "out", split=True, chunk_seconds=2, workers=1,
                   on_progress=lambda done, total: seen.append((done, total)))
    assert next(iter(batch)).ok
    total = seen[-1][1]
    assert any(0 < done < total for done, _ in seen)  # moving before the end, not a jump
    assert seen[-1][0] == pytest.approx(total)


def test_a_split_encode_removes_the_chunks_left_for_other_settings(tmp_path, clips):
    out = tmp_path / "out"
    left = out / ".long.mp4.gilwise-split-0123456789" / "encoded"  # as a killed --crf 30 run
    left.mkdir(parents=True)
    (left / "00000.mkv").write_bytes(b"a chunk of another encode")
    rec = next(iter(encode(clips["long"], out, split=True, chunk_seconds=2)))
    assert rec.ok, rec.error
    assert sorted(p.name for p in out.iterdir()) == ["long.mp4"]
