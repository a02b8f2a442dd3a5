"""One encode per input through ``gilwise.encode.encode``: every codec and container, the
options, and bad inputs as records with no partial output."""

from __future__ import annotations

from pathlib import Path

import pytest
from _clips import leftovers, put

from gilwise import usable_cores
from gilwise.encode import encode
from gilwise.encode.probe import count_frames, probe

MODES = ["threads", "processes"]


def only(batch):
    records = list(batch)
    assert len(records) == 1, records
    return records[0]


@pytest.mark.parametrize(("codec", "fmt", "family"), [
    ("h264", "mp4", "h264"), ("h264", "mkv", "h264"), ("h265", "mp4", "hevc"),
    ("h265", "mkv", "hevc"), ("vp9", None, "vp9"), ("av1", None, "av1"),
    ("av1", "mp4", "av1"), ("mpeg4", "mkv", "mpeg4"),
])
def test_each_codec_and_container_gives_a_verified_output(tmp_path, clips, codec, fmt, family):
    rec = only(encode(clips["a"], tmp_path, codec=codec, format=fmt, preset="ultrafast",
                      verify_decode=True))
    assert rec.ok, rec.error
    info = probe(rec.output)
    assert info.video_codec == family
    assert rec.output.endswith("." + (fmt or ("webm" if codec in ("vp9", "av1") else "mp4")))
    assert abs(info.duration - 1.0) < 0.07 and rec.frames == 30
    assert (rec.in_bytes, rec.out_bytes) == (clips["a"].stat().st_size,
                                             (tmp_path / rec.output).stat().st_size)


def test_scale_and_fps_options_shape_the_video(tmp_path, clips):
    rec = only(encode(clips["a"], tmp_path, scale="80:-2", fps=10))
    assert rec.ok, rec.error
    info = probe(rec.output)
    assert (info.width, info.height, round(info.fps)) == (80, 60, 10)
    assert count_frames(rec.output) == 10


@pytest.mark.parametrize(("options", "audio"), [
    ({}, "aac"), ({"audio": "opus", "format": "mkv"}, "opus"), ({"audio": "copy"}, "aac"),
    ({"audio": "mp3", "audio_bitrate": "64k"}, "mp3"), ({"no_audio": True}, None),
    ({"codec": "vp9"}, "opus"),
])
def test_audio_is_encoded_copied_or_dropped_as_asked(tmp_path, clips, options, audio):
    rec = only(encode(clips["a"], tmp_path, preset="ultrafast", **options))
    assert rec.ok, rec.error
    assert probe(rec.output).audio_codec == audio


@pytest.mark.parametrize("codec", ["h264", "h265", "vp9", "av1"])
def test_an_odd_size_is_made_even_for_codecs_that_need_it(tmp_path, clips, codec):
    assert (probe(clips["odd"]).width, probe(clips["odd"]).height) == (321, 241)
    rec = only(encode(clips["odd"], tmp_path, codec=codec, preset="ultrafast"))
    assert rec.ok, rec.error
    info = probe(rec.output)
    assert (info.width, info.height) == (320, 240)


def test_a_clip_without_audio_encodes_without_audio(tmp_path, clips):
    rec = only(encode(clips["silent"], tmp_path))
    assert rec.ok, rec.error
    assert probe(rec.output).audio_codec is None


@pytest.mark.parametrize("mode", MODES)
def test_bad_inputs_are_records_and_the_good_ones_still_encode(tmp_path, clips, mode):
    src, out = tmp_path / "in", tmp_path / "out"
    names = ["a", "corrupt", "truncated", "truncated_mp4", "empty", "not_video", "silent"]
    given = [put(clips[n], src / f"{n} ë{clips[n].suffix}") for n in names]
    given.append(src / "missing.mp4")
    records = {r.input: r for r in encode(given, out, mode=mode, workers=2)}
    assert len(records) == len(given)
    failed = {k for k, r in records.items() if not r.ok}
    assert failed == {str(p) for p in given[1:6]} | {str(src / "missing.mp4")}
    reasons = {n: records[str(p)].error for n, p in zip(names, given)}
    assert "truncated or corrupt" in reasons["truncated"]
    assert reasons["empty"] == "empty file (0 bytes)"
    assert "not a readable video" in reasons["not_video"]
    assert records[str(src / "missing.mp4")].error == "no such file"
    assert sorted(p.name for p in out.iterdir()) == ["a ë.mp4", "silent ë.mp4"]
    assert leftovers(out) == []


@pytest.mark.parametrize("mode", MODES)
def test_a_batch_mirrors_the_tree_and_says_how_it_ran(tmp_path, clips, mode):
    src, out = tmp_path / "in", tmp_path / "out"
    for rel in ("a/x.mp4", "b/x.mp4", "b/c/ñame with space.mkv"):
        put(clips["a"], src / rel)
    batch = encode([src], out, mode=mode, workers=2, preset="ultrafast")
    records = list(batch)
    assert all(r.ok for r in records), records
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.mp4")) == [
        "a/x.mp4", "b/c/ñame with space.mp4", "b/x.mp4"]
    assert (batch.mode, batch.workers) == (mode, 2) and batch.reason
    assert all(r.speed > 0 and r.seconds > 0 and r.duration > 0.9 for r in records)


def test_the_longest_inputs_are_encoded_first(tmp_path, clips):
    # one worker: records come in the order the encodes started
    batch = encode([clips["a"], clips["long"]], tmp_path, workers=1, preset="ultrafast")
    assert [Path(r.input).name for r in batch] == ["long.mkv", "a.mp4"]


def test_auto_mode_decides_and_gives_its_reason(tmp_path, clips):
    batch = encode([clips["a"], clips["silent"]], tmp_path, workers=2, mode="auto")
    assert all(r.ok for r in batch)
    # two workers at most; one where the first clip ended while auto measured it (a busy
    # machine): a one-shot map starts no more workers than it has items left
    assert batch.mode in ("threads", "processes") and batch.workers in (1, 2)
    assert batch.reason and "asked for" not in batch.reason and "FFmpeg" not in batch.reason


def test_by_default_threads_drive_the_ffmpeg_processes_and_say_why(tmp_path, clips):
    batch = encode([clips["a"], clips["silent"]], tmp_path)
    assert all(r.ok for r in batch)
    assert (batch.mode, batch.workers) == ("threads", usable_cores())
    assert batch.reason.startswith("each encode is an FFmpeg process")


def test_a_timeout_kills_ffmpeg_and_leaves_nothing(tmp_path, clips):
    rec = only(encode(clips["long"], tmp_path, preset="veryslow", timeout=0.2))
    assert not rec.ok and "timed out after 0.2 s" in rec.error
    assert list(tmp_path.iterdir()) == []


def test_skip_existing_then_force_encodes_again(tmp_path, clips):
    first = only(encode(clips["a"], tmp_path))
    before = (tmp_path / "a.mp4").stat().st_mtime_ns
    again = only(encode(clips["a"], tmp_path))
    assert (first.status, again.status) == ("encoded", "skipped")
    assert (tmp_path / "a.mp4").stat().st_mtime_ns == before
    forced = only(encode(clips["a"], tmp_path, force=True))
    assert forced.status == "encoded" and (tmp_path / "a.mp4").stat().st_mtime_ns != before


def test_a_dry_run_writes_nothing(tmp_path, clips):
    out = tmp_path / "out"
    rec = only(encode(clips["a"], out, dry_run=True))
    assert (rec.status, rec.ok, rec.output) == ("planned", True, str(out / "a.mp4"))
    assert not out.exists()
