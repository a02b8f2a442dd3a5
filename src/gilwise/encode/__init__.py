"""``gilwise encode``: transcode a batch of videos on every core with FFmpeg, each output
complete and verified or not there at all. Built on ``gilwise.map`` like any user's code.

    from gilwise.encode import encode
    for record in encode(["videos/"], "encoded/", recipe="web"):
        print(record.input, record.ok, record.error or f"{record.speed:.1f}x")
"""

from __future__ import annotations

from typing import Any

__all__ = ["Batch", "Record", "SettingsError", "encode"]


def __getattr__(name: str) -> Any:
    """The encoder's names, imported on first use: every ``gilwise`` command builds the
    ``encode`` parser, and only ``gilwise encode`` needs the encoder itself."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from gilwise.encode import batch

    globals().update({public: getattr(batch, public) for public in __all__})
    return globals()[name]
