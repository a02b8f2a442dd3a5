"""``gilwise encode`` as users run it: a real subprocess, its lines, summary and exit codes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from _clips import leftovers, put

from terminal import run_on_terminal, screen

SRC = str(Path(__file__).resolve().parents[2] / "src")


def gilwise(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run([sys.executable, "-m", "gilwise", "encode", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_all_encoded_exits_0_with_a_summary_saying_mode_and_why(tmp_path, clips):
    put(clips["a"], tmp_path / "videos" / "one.mp4")
    put(clips["silent"], tmp_path / "videos" / "sub" / "two.mov")
    done = gilwise("videos", "-o", "out", "--recipe", "preview", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ok     out/one.mp4" in done.stdout and "ok     out/sub/two.mp4" in done.stdout
    assert "2 files: 2 encoded, 0 skipped, 0 failed" in done.stderr
    assert "mode: threads x" in done.stderr or "mode: processes x" in done.stderr
    again = gilwise("videos", "-o", "out", "--recipe", "preview", cwd=tmp_path)
    assert again.returncode == 0 and "2 files: 0 encoded, 2 skipped" in again.stderr


def test_a_failed_input_exits_1_and_names_it(tmp_path, clips):
    put(clips["a"], tmp_path / "good.mp4")
    put(clips["not_video"], tmp_path / "bad.mp4")
    done = gilwise("good.mp4", "bad.mp4", "-o", "out", cwd=tmp_path)
    assert done.returncode == 1
    assert "FAILED bad.mp4: not a readable video" in done.stderr
    assert (tmp_path / "out" / "good.mp4").exists() and not (tmp_path / "out" / "bad.mp4").exists()


@pytest.mark.parametrize(("options", "named"), [
    (["--codec", "h265", "--format", "webm"], "--codec h265"),
    (["--codec", "nonesuch"], "--codec nonesuch"),
    (["--recipe", "nonesuch"], "--recipe nonesuch"),
    (["--audio-bitrate", "lots"], "--audio-bitrate lots"),
    (["--fps", "0.001"], "--fps 0.001"),
    (["--crf", "high"], "argument --crf: invalid int value: 'high'"),
])
def test_an_impossible_combination_exits_2_in_one_line_before_any_work(tmp_path, clips,
                                                                       options, named):
    put(clips["a"], tmp_path / "a.mp4")
    done = gilwise("a.mp4", "-o", "out", *options, cwd=tmp_path)
    assert done.returncode == 2
    # argparse's own refusals (a type) say "gilwise: error:", the settings' "gilwise encode:"
    assert done.stderr.startswith((f"gilwise encode: error: {named}", f"gilwise: error: {named}"))
    assert done.stderr.count("\n") == 1 and not (tmp_path / "out").exists()


def test_a_dry_run_lists_the_plan_and_writes_nothing(tmp_path, clips):
    put(clips["a"], tmp_path / "in" / "a b.mp4")
    done = gilwise("in", "-o", "out", "--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "would  in/a b.mp4 -> out/a b.mp4 (1.0 s)" in done.stdout
    assert "nothing written" in done.stderr and not (tmp_path / "out").exists()


def test_a_recipe_file_is_applied(tmp_path, clips):
    put(clips["a"], tmp_path / "a.mp4")
    (tmp_path / "small.json").write_text('{"codec": "vp9", "scale": "80:-2", "preset": "fast"}')
    done = gilwise("a.mp4", "-o", "out", "--recipe", "small.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    from gilwise.encode.probe import probe

    info = probe(tmp_path / "out" / "a.webm")
    assert (info.video_codec, info.width) == ("vp9", 80)
    assert leftovers(tmp_path / "out") == []


def test_lines_and_the_bar_share_the_terminal(tmp_path, clips):
    """stdout and the bar on one terminal: each ``ok`` line on a line of its own, above the
    bar, not printed onto a frame of it."""
    put(clips["long"], tmp_path / "in" / "long.mkv")
    for name in ("one", "two", "three"):
        put(clips["a"], tmp_path / "in" / f"{name}.mp4")
    code, output = run_on_terminal(
        [sys.executable, "-m", "gilwise", "encode", "in", "-o", "out", "--recipe", "preview",
         "--workers", "1", "--progress"], cwd=tmp_path, env={"PYTHONPATH": SRC})
    assert code == 0, output
    assert re.search(r"\d+/9 s", output), output  # the bar was drawn
    lines = [line for line in screen(output) if "ok " in line]
    assert len(lines) == 4 and all(line.startswith("ok     out/") for line in lines), lines
