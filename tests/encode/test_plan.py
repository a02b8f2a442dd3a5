"""Planning: folders recursively, a mirrored output tree with no collisions, skip-existing,
and the clean-up of temporary files a killed run left."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from _clips import put

from gilwise.encode.plan import clean_stale, plan
from gilwise.encode.recipes import Settings, SettingsError


def outputs(p, out):
    return sorted(str(os.path.relpath(j.output, out)) for j in p.jobs)


def test_a_folder_is_walked_recursively_and_its_tree_mirrored(tmp_path, clips):
    src, out = tmp_path / "videos", tmp_path / "out"
    put(clips["a"], src / "top.mp4")
    put(clips["a"], src / "deep" / "er" / "clip.mov")
    put(clips["a"], src / "with space" / "é ünï.mkv")
    (src / "notes.txt").write_text("not a video: left out of a folder")
    put(clips["a"], src / ".hidden.mp4")
    assert outputs(plan([src], out, Settings()), out) == [
        "deep/er/clip.mp4", "top.mp4", "with space/é ünï.mp4"]


def test_files_of_the_same_name_in_different_folders_do_not_collide(tmp_path, clips):
    a, b = put(clips["a"], tmp_path / "a" / "x.mp4"), put(clips["a"], tmp_path / "b" / "x.mp4")
    out = tmp_path / "out"
    assert outputs(plan([a, b], out, Settings()), out) == ["a/x.mp4", "b/x.mp4"]


def test_inputs_differing_only_by_extension_keep_it_in_their_output_name(tmp_path, clips):
    x1, x2 = put(clips["a"], tmp_path / "x.mov"), put(clips["a"], tmp_path / "x.mkv")
    out = tmp_path / "out"
    assert outputs(plan([x1, x2], out, Settings()), out) == ["x.mkv.mp4", "x.mov.mp4"]


def test_an_existing_output_is_skipped_unless_forced(tmp_path, clips):
    src, out = put(clips["a"], tmp_path / "in" / "a.mp4"), tmp_path / "out"
    (out).mkdir()
    (out / "a.mp4").write_bytes(b"done before")
    skipping = plan([src], out, Settings())
    assert (len(skipping.jobs), len(skipping.existing)) == (0, 1)
    forced = plan([src], out, Settings(), force=True)
    assert (len(forced.jobs), len(forced.existing)) == (1, 0)


def test_a_missing_input_is_reported_not_planned(tmp_path):
    p = plan([tmp_path / "nowhere.mp4"], tmp_path / "out", Settings())
    assert (p.jobs, p.missing) == ([], [str(tmp_path / "nowhere.mp4")])


def test_stale_temporary_files_of_a_dead_run_are_removed_and_a_live_runs_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (tmp_path / "sub").mkdir()
    stale = tmp_path / "sub" / f".x.mp4.gilwise-{dead}.part"
    live = tmp_path / f".z.mp4.gilwise-{os.getpid()}.part"
    for f in (stale, live):
        f.write_bytes(b"half")
    removed = clean_stale(tmp_path)
    assert removed == [stale]
    assert live.exists() and not stale.exists()


def test_an_output_that_would_replace_its_input_is_refused(tmp_path, clips):
    put(clips["a"], tmp_path / "videos" / "a.mp4")
    with pytest.raises(SettingsError, match=r"^-o .*a\.mp4 would be replaced by its own output"):
        plan([tmp_path / "videos"], tmp_path / "videos", Settings())
