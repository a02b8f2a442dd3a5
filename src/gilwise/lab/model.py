"""The lab's results as plain dataclasses, so the table, the chart and the JSON read one thing."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

CONFIRMED, NOT_CONFIRMED = "confirmed", "not confirmed"


@dataclass
class Row:
    """One measurement: how the work ran, with how many workers, how long, how much faster.

    ``skipped`` holds the reason a row could not run here (then ``seconds`` is None);
    ``value``/``unit`` carry a number that is not a time (a reference count, lost updates).
    """

    variant: str
    workers: int
    seconds: float | None = None
    speedup: float | None = None
    value: float | None = None
    unit: str = ""
    note: str = ""
    skipped: str | None = None


@dataclass
class Experiment:
    """One claim about the GIL, the rows measured to test it, and the verdict they give."""

    key: str
    name: str
    claim: str
    rows: list[Row] = field(default_factory=list)
    verdict: str = NOT_CONFIRMED
    explanation: str = ""
    seconds: float = 0.0  # wall time the experiment took, for the budget

    @property
    def confirmed(self) -> bool:
        return self.verdict == CONFIRMED

    def judge(self, holds: bool, explanation: str) -> None:
        """Sets the verdict from a test on the measurements, never by hand."""
        self.verdict = CONFIRMED if holds else NOT_CONFIRMED
        self.explanation = explanation

    def measured(self, variant: str) -> list[Row]:
        """Rows of one variant that ran (not skipped), in worker order."""
        return [r for r in self.rows if r.variant == variant and r.skipped is None]

    def best_speedup(self, variant: str, min_workers: int = 1) -> float | None:
        """The best speedup of ``variant`` with at least ``min_workers`` workers, if any ran."""
        speedups = [r.speedup for r in self.measured(variant)
                    if r.speedup is not None and r.workers >= min_workers]
        return max(speedups) if speedups else None


def machine() -> dict[str, Any]:
    """What the numbers depend on: interpreter, build, OS and usable cores."""
    from gilwise import __version__
    from gilwise.lab.runners import gil_enabled, usable_cores

    return {
        "gilwise": __version__,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "gil_enabled": gil_enabled(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "usable_cores": usable_cores(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "executable": sys.executable,
    }


@dataclass
class LabReport:
    """Everything ``gilwise lab`` measured, and where it wrote the JSON and the chart."""

    quick: bool
    machine: dict[str, Any]
    experiments: list[Experiment] = field(default_factory=list)
    seconds: float = 0.0
    json_path: str | None = None
    png_path: str | None = None

    def experiment(self, key: str) -> Experiment:
        return next(e for e in self.experiments if e.key == key)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for exp, raw in zip(self.experiments, data["experiments"]):
            raw["confirmed"] = exp.confirmed
        return data
