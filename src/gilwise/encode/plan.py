"""From the inputs to the jobs: find the videos (folders recursively), name each output by
mirroring the input tree under the output folder (names never collide), skip outputs that
exist unless forced, and clean up the temporary files a killed run left behind."""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from gilwise.encode.recipes import Settings, SettingsError

VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts",
                    ".mts", ".m2ts", ".flv", ".wmv", ".3gp", ".ogv", ".y4m"}
# `.name.mp4.gilwise-1234.part`: hidden, and owned by process 1234 (the run that planned it)
TEMP_PATTERN = re.compile(r"^\..+\.gilwise-(\d+)\.part$")


@dataclass(frozen=True)
class Job:
    """One input to encode into one output, through a temporary file beside it."""

    input: str
    output: str
    settings: Settings
    owner: int = field(default_factory=os.getpid)  # the run whose temporary files these are

    @property
    def temp(self) -> str:
        out = Path(self.output)
        return str(out.with_name(f".{out.name}.gilwise-{self.owner}.part"))


@dataclass
class Plan:
    """What a batch will do: the jobs to run and the outputs already there."""

    jobs: list[Job]
    existing: list[Job]  # outputs present: skipped (unless force)
    missing: list[str]  # inputs given that do not exist (each becomes a failed record)


def find_videos(inputs: list[str | Path], out_dir: Path) -> tuple[list[Path], list[str], Path]:
    """The files to encode (a folder: its videos, recursively, hidden files and the output
    folder left out; a file: itself, whatever its name), the inputs that do not exist, and
    the folder whose tree the outputs mirror (the inputs' common parent)."""
    files: list[Path] = []
    missing: list[str] = []
    roots: list[Path] = []
    out_abs = out_dir.resolve()
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            roots.append(path.resolve())
            for dirpath, dirnames, filenames in os.walk(path):
                here = Path(dirpath)
                dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                                     and (here / d).resolve() != out_abs)
                files += [here / f for f in sorted(filenames) if not f.startswith(".")
                          and Path(f).suffix.lower() in VIDEO_EXTENSIONS]
        elif path.exists() or path.is_symlink():
            roots.append(path.resolve().parent)
            files.append(path)
        else:
            missing.append(str(given))
    unique = list({f.resolve(): f for f in reversed(files)}.values())[::-1]  # as given
    base = Path(os.path.commonpath(roots)) if roots else Path.cwd()
    return unique, missing, base


def plan(inputs: list[str | Path], out_dir: str | Path, settings: Settings,
         force: bool = False) -> Plan:
    """Jobs for every video under ``inputs``; outputs mirror their tree under ``out_dir``."""
    out_dir = Path(out_dir)
    files, missing, base = find_videos(inputs, out_dir)
    outputs = [out_dir / f.resolve().relative_to(base).with_suffix(settings.extension)
               for f in files]
    clashes = Counter(outputs)
    jobs: list[Job] = []
    existing: list[Job] = []
    for src, out in zip(files, outputs):
        if clashes[out] > 1:  # x.mov and x.mkv in one folder: keep the input's extension
            out = out.with_name(src.name + settings.extension)
        if out.resolve() == src.resolve():
            raise SettingsError(f"-o {out_dir}: {src} would be replaced by its own output "
                                "(choose another output folder)")
        job = Job(str(src), str(out), settings)
        (existing if out.exists() and not force else jobs).append(job)
    return Plan(jobs, existing, missing)


def clean_stale(out_dir: str | Path) -> list[Path]:
    """Remove the temporary files under ``out_dir`` whose run is gone (killed); those of a
    live run are left alone (and --split's chunk folders, kept to resume). Returns what was
    removed."""
    removed: list[Path] = []
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return removed
    for dirpath, dirnames, filenames in os.walk(out_dir):
        for name in list(dirnames) + filenames:
            m = TEMP_PATTERN.match(name)
            if m and not _alive(int(m.group(1))):
                path = Path(dirpath) / name
                _remove(path)
                removed.append(path)
                if name in dirnames:
                    dirnames.remove(name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        for child in path.iterdir():
            _remove(child)
        path.rmdir()
    else:
        path.unlink(missing_ok=True)
