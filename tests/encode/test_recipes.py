"""Settings: recipes, a recipe file, and impossible combinations refused before any work."""

from __future__ import annotations

import json

import pytest

from gilwise.encode.recipes import RECIPES, SettingsError, settings_from


@pytest.mark.parametrize(("options", "names"), [
    ({"codec": "h265", "format": "webm"}, "--codec h265"),
    ({"codec": "no-such-encoder"}, "--codec no-such-encoder"),
    ({"codec": "vp9", "audio": "aac"}, "--audio aac"),
    ({"crf": 99}, "--crf 99"),
    ({"preset": "warp"}, "--preset warp"),
    ({"scale": "wide"}, "--scale wide"),
    ({"audio": "flac-ish"}, "--audio flac-ish"),
    ({"crf": "high"}, "--crf 'high': must be int"),
    ({"crf": 23.5}, "--crf 23.5: must be int"),
    ({"audio_bitrate": "lots"}, "--audio-bitrate lots: expected bits a second"),
    ({"audio_bitrate": "2k"}, "--audio-bitrate 2k"),
    ({"audio_bitrate": 128}, "--audio-bitrate 128: must be str"),
    ({"fps": 0.001}, "--fps 0.001: must be 1 to 1000"),
    ({"fps": "30"}, "--fps '30': must be int or float"),
    ({"fps": 0}, "--fps 0: must be 1 to 1000"),
    ({"preset": 5}, "--preset 5: must be str"),
    ({"scale": 720}, "--scale 720: must be str"),
    ({"threads": "2"}, "--threads '2': must be int"),
    ({"no_audio": "yes"}, "--no-audio 'yes': must be bool"),
])
def test_an_impossible_combination_is_refused_naming_the_option(options, names):
    with pytest.raises(SettingsError) as caught:
        settings_from(**options)
    assert str(caught.value).startswith(names)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_named_recipe_is_possible(name):
    settings = settings_from(name)
    assert settings.codec == RECIPES[name]["codec"]


def test_a_recipe_file_is_read_and_options_given_override_it(tmp_path):
    recipe = tmp_path / "mine.json"
    recipe.write_text(json.dumps({"codec": "vp9", "crf": 40, "preset": "fast"}))
    settings = settings_from(str(recipe), crf=33)
    assert (settings.codec, settings.crf, settings.preset) == ("vp9", 33, "fast")
    assert (settings.container, settings.audio) == ("webm", "opus")  # vp9's defaults


def test_a_recipe_file_with_an_unknown_key_is_refused(tmp_path):
    recipe = tmp_path / "typo.json"
    recipe.write_text(json.dumps({"codecs": "h264"}))
    with pytest.raises(SettingsError, match=r"--recipe .*unknown keys \['codecs'\]"):
        settings_from(str(recipe))


def test_an_encoder_name_of_the_bundled_ffmpeg_is_accepted_as_a_codec():
    assert settings_from(codec="libx264").codec == "libx264"
    assert settings_from(codec="mpeg4", format="mkv").container == "mkv"


@pytest.mark.parametrize("bitrate", ["128k", "64k", "1M", "96000", "160K"])
def test_a_bitrate_ffmpeg_takes_is_accepted(bitrate):
    assert settings_from(audio_bitrate=bitrate).audio_bitrate == bitrate


@pytest.mark.parametrize(("options", "names"), [
    ({"workers": "4"}, "--workers '4'"), ({"workers": 0}, "--workers 0"),
    ({"mode": "gpu"}, "--mode 'gpu'"), ({"timeout": "1"}, "--timeout '1'"),
    ({"timeout": -1}, "--timeout -1"), ({"chunk_seconds": 0}, "--chunk-seconds 0"),
    ({"crf": "high"}, "--crf 'high'"),
])
def test_encode_refuses_a_bad_option_before_any_work(tmp_path, options, names):
    from gilwise.encode import encode

    with pytest.raises(SettingsError) as caught:
        encode([str(tmp_path / "none.mp4")], tmp_path / "out", **options)
    assert str(caught.value).startswith(names) and "\n" not in str(caught.value)
    assert not (tmp_path / "out").exists()
