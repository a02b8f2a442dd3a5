"""What to encode to: the settings of an encode, the named recipes, and the checks that
refuse an impossible combination (h265 in webm, an encoder FFmpeg lacks) before any work."""

from __future__ import annotations

import functools
import json
import re
import subprocess
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any


class SettingsError(ValueError):
    """An option or recipe that cannot work; the message names the option."""


@dataclass(frozen=True)
class Codec:
    """A short codec name: FFmpeg's encoder, its codec family, its default quality, how its
    speed preset is spelled and how its encoder is held to N threads."""

    encoder: str
    family: str
    crf: int | None
    max_crf: int = 51
    even_size: bool = True  # 4:2:0 needs even width and height


CODECS = {
    "h264": Codec("libx264", "h264", 23),
    "h265": Codec("libx265", "hevc", 28),
    "vp9": Codec("libvpx-vp9", "vp9", 31, max_crf=63),
    "av1": Codec("libsvtav1", "av1", 35, max_crf=63),
}
AUDIO = {"aac": ("aac", "aac"), "opus": ("libopus", "opus"), "mp3": ("libmp3lame", "mp3")}
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
           "veryslow")
# x264's names mapped to the other encoders' speed scales (index in PRESETS -> their value)
VP9_CPU_USED = (8, 7, 6, 5, 4, 3, 2, 1, 0)
SVT_AV1_PRESET = (12, 11, 10, 9, 8, 7, 6, 4, 2)
# What each container can hold (codec families); mkv holds anything FFmpeg encodes
CONTAINERS: dict[str, tuple[str, set[str] | None, set[str] | None]] = {
    # name: (FFmpeg muxer, video families, audio families)
    "mp4": ("mp4", {"h264", "hevc", "vp9", "av1", "mpeg4", "mjpeg"},
            {"aac", "mp3", "opus", "flac", "ac3", "alac"}),
    "mkv": ("matroska", None, None),
    "webm": ("webm", {"vp8", "vp9", "av1"}, {"opus", "vorbis"}),
}

RECIPES: dict[str, dict[str, Any]] = {
    "web": {"codec": "h264", "crf": 23, "preset": "medium", "audio": "aac",
            "audio_bitrate": "128k", "format": "mp4"},
    "archive": {"codec": "h265", "crf": 22, "preset": "slow", "audio": "copy", "format": "mkv"},
    "preview": {"codec": "h264", "crf": 30, "preset": "veryfast", "scale": "-2:360",
                "audio": "aac", "audio_bitrate": "64k", "format": "mp4"},
}


@dataclass(frozen=True)
class Settings:
    """One encode's settings (every input of a batch gets the same)."""

    codec: str = "h264"
    crf: int | None = None  # None: the codec's default
    preset: str | None = None  # None: the encoder's default
    scale: str | None = None  # "W:H", -2 keeps the aspect ratio with an even size
    fps: float | None = None
    audio: str = "aac"  # aac | opus | mp3 | copy (the format's default when not given)
    audio_bitrate: str | None = None
    no_audio: bool = False
    format: str | None = None  # mp4 | mkv | webm; None: mp4, webm for vp9/av1
    threads: int = 1  # encoder threads per encode

    @property
    def container(self) -> str:
        if self.format:
            return self.format
        return "webm" if self.codec in ("vp9", "av1") else "mp4"

    @property
    def extension(self) -> str:
        return "." + self.container


def load_recipe(name_or_file: str) -> dict[str, Any]:
    """A named recipe, or a JSON file of option names (codec, crf, preset, scale, ...)."""
    if name_or_file in RECIPES:
        return dict(RECIPES[name_or_file])
    path = Path(name_or_file)
    if not path.suffix == ".json":
        raise SettingsError(f"--recipe {name_or_file}: not one of {', '.join(RECIPES)}, "
                            "nor a .json file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"--recipe {name_or_file}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise SettingsError(f"--recipe {name_or_file}: not valid JSON ({exc})") from None
    known = {f.name for f in fields(Settings)} - {"threads"}
    if not isinstance(data, dict) or set(data) - known:
        extra = sorted(set(data) - known) if isinstance(data, dict) else "not an object"
        raise SettingsError(f"--recipe {name_or_file}: unknown keys {extra} "
                            f"(known: {', '.join(sorted(known))})")
    return data


def settings_from(recipe: str | None = None, **options: Any) -> Settings:
    """Settings from a recipe, overridden by the options given (None means not given),
    checked: every impossible combination raises SettingsError naming the option."""
    base = load_recipe(recipe) if recipe else {}
    base.update({k: v for k, v in options.items() if v is not None})
    if "audio" not in base:
        container = base.get("format") or ("webm" if base.get("codec") in ("vp9", "av1")
                                            else "mp4")
        base["audio"] = "opus" if container == "webm" else "aac"
    try:
        settings = replace(Settings(), **base)
    except TypeError as exc:
        raise SettingsError(str(exc)) from None
    check(settings)
    return settings


#: the frame rates --fps may ask for: under 1 frame a second most clips would come out with
#: no frame at all (FFmpeg then writes no video stream), over 1000 is a typo
FPS_RANGE = (1.0, 1000.0)
#: --audio-bitrate in bits a second: a number with k or M, as FFmpeg's -b:a takes it
AUDIO_BITRATE_RANGE = (8_000, 1_000_000)
_TYPES: dict[str, tuple[type, ...]] = {
    "codec": (str,), "crf": (int,), "preset": (str,), "scale": (str,), "fps": (int, float),
    "audio": (str,), "audio_bitrate": (str,), "no_audio": (bool,), "format": (str,),
    "threads": (int,),
}


def _check_types(s: Settings) -> None:
    """Each setting of the right type (a JSON recipe or a library call may give any)."""
    for name, kinds in _TYPES.items():
        value = getattr(s, name)
        wrong = isinstance(value, bool) and bool not in kinds
        if value is not None and (wrong or not isinstance(value, kinds)):
            kind = " or ".join(k.__name__ for k in kinds)
            raise SettingsError(f"--{name.replace('_', '-')} {value!r}: must be {kind}, not "
                                f"{type(value).__name__}")


def audio_bits(text: str) -> int | None:
    """--audio-bitrate in bits a second ("128k" -> 128000), None if it is not a bitrate."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kKM]?)", text.strip())
    if not m:
        return None
    return int(float(m.group(1)) * {"": 1, "k": 1000, "K": 1000, "M": 1_000_000}[m.group(2)])


def check(s: Settings) -> None:
    """Refuse what cannot be encoded, naming the option at fault."""
    _check_types(s)
    if s.container not in CONTAINERS:
        raise SettingsError(f"--format {s.container}: not one of {', '.join(CONTAINERS)}")
    family = video_family(s.codec)
    if family is None:
        raise SettingsError(f"--codec {s.codec}: this FFmpeg has no such video encoder "
                            f"(short names: {', '.join(CODECS)}; or any of `ffmpeg -encoders`)")
    _, video_ok, audio_ok = CONTAINERS[s.container]
    if video_ok is not None and family not in video_ok:
        raise SettingsError(f"--codec {s.codec}: {s.container} cannot hold {family} video "
                            f"(it holds {', '.join(sorted(video_ok))})")
    codec = CODECS.get(s.codec)
    if s.crf is not None and codec and not 0 <= s.crf <= codec.max_crf:
        raise SettingsError(f"--crf {s.crf}: {s.codec} takes 0 to {codec.max_crf}")
    if s.preset is not None and s.preset not in PRESETS and not s.preset.isdigit():
        raise SettingsError(f"--preset {s.preset}: not one of {', '.join(PRESETS)} "
                            "(or the encoder's own number)")
    if s.scale is not None and not re.fullmatch(r"-?\d+:-?\d+", s.scale):
        raise SettingsError(f"--scale {s.scale}: expected W:H, e.g. 1280:-2")
    if s.fps is not None and not FPS_RANGE[0] <= s.fps <= FPS_RANGE[1]:
        raise SettingsError(f"--fps {s.fps:g}: must be {FPS_RANGE[0]:g} to {FPS_RANGE[1]:g} "
                            "frames a second")
    if s.threads < 1:
        raise SettingsError(f"--threads {s.threads}: must be at least 1")
    if s.no_audio or s.audio == "copy":
        return
    low, high = AUDIO_BITRATE_RANGE
    bits = audio_bits(s.audio_bitrate) if s.audio_bitrate is not None else low
    if bits is None or not low <= bits <= high:
        raise SettingsError(f"--audio-bitrate {s.audio_bitrate}: expected bits a second such "
                            f"as 128k, from {low // 1000}k to {high // 1_000_000}M")
    if s.audio not in AUDIO:
        raise SettingsError(f"--audio {s.audio}: not one of {', '.join(AUDIO)}, copy")
    if audio_ok is not None and AUDIO[s.audio][1] not in audio_ok:
        raise SettingsError(f"--audio {s.audio}: {s.container} cannot hold it "
                            f"(it holds {', '.join(sorted(audio_ok))})")


def video_family(codec: str) -> str | None:
    """The codec family of a short name or FFmpeg encoder name; None if FFmpeg lacks it."""
    encoder = CODECS[codec].encoder if codec in CODECS else codec
    return encoders().get(encoder)


@functools.lru_cache(maxsize=1)
def encoders() -> dict[str, str]:
    """Every video encoder of the bundled FFmpeg, with its codec family."""
    from gilwise.encode.ffmpeg import ffmpeg_exe

    text = subprocess.run([ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True,
                          text=True, check=True).stdout
    found = {}
    for line in text.splitlines():
        m = re.match(r"\s*V\S*\s+(\S+)\s+.*?(?:\(codec (\S+)\))?$", line)
        if m and m.group(1) != "=":
            found[m.group(1)] = m.group(2) or m.group(1)
    return found
