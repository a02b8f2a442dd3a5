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
