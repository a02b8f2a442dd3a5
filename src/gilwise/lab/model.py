"""The lab's results as plain dataclasses, so the table, the chart and the JSON read one thing;
and the one rule every verdict follows: a claim is judged only when its control held."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

CONFIRMED, REFUTED, INCONCLUSIVE = "confirmed", "refuted", "inconclusive"
MARKS = {CONFIRMED: "✔", REFUTED: "✘", INCONCLUSIVE: "?"}


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


@dataclass(frozen=True)
class Check:
    """One test on the measurements: what it expects, what was measured, and whether it held
    (None: it could not be measured here)."""

    expects: str
    measured: str
    holds: bool | None


@dataclass(frozen=True)
class Verdict:
    """``status`` is confirmed, refuted or inconclusive; ``because`` names, when inconclusive,
    what kept the measurements from saying anything (e.g. "the machine is busy")."""

    status: str
    because: str
    explanation: str


def decide(claim: Check, control: Check, control_failed: str, why_confirmed: str = "",
           why_refuted: str = "") -> Verdict:
    """The lab's one rule. The control is what must hold for the measurements to test the
    claim at all (processes scale, so the cores were free): when it failed, or could not be
    measured, the verdict is inconclusive, naming ``control_failed``; else the claim decides."""
    if control.holds is None or claim.holds is None:
        missing = control if control.holds is None else claim
        return Verdict(INCONCLUSIVE, "it could not be measured here",
                       f"{missing.measured} (needed: {missing.expects})")
    if not control.holds:
        return Verdict(INCONCLUSIVE, control_failed,
                       f"control failed: {control.measured}, short of {control.expects}; "
                       f"so {claim.measured} says nothing about the claim")
    status = CONFIRMED if claim.holds else REFUTED
    why = why_confirmed if claim.holds else why_refuted
    return Verdict(status, "", f"{claim.measured} (the claim expects {claim.expects}), "
                   f"control held: {control.measured}" + (f": {why}" if why else ""))


@dataclass
class Experiment:
    """One claim about the GIL, the control that must hold for the rows to test it, the rows
    measured, and the verdict they give."""

    key: str
    name: str
    claim: str
    control: str = ""
    rows: list[Row] = field(default_factory=list)
    verdict: str = INCONCLUSIVE
    because: str = "not judged"
    explanation: str = ""
    seconds: float = 0.0  # wall time the experiment took, for the budget

    @property
    def confirmed(self) -> bool:
        return self.verdict == CONFIRMED

    @property
    def label(self) -> str:
        """The verdict as the table, the chart and the JSON show it."""
        return f"{self.verdict}: {self.because}" if self.because else self.verdict

    def judge(self, verdict: Verdict) -> None:
        """Takes the verdict a rule computed from the measurements, never one set by hand."""
        self.verdict, self.because, self.explanation = (verdict.status, verdict.because,
                                                        verdict.explanation)

    def measured(self, variant: str) -> list[Row]:
        """Rows of one variant that ran (not skipped), in worker order."""
        return [r for r in self.rows if r.variant == variant and r.skipped is None]

    def best_speedup(self, variant: str, min_workers: int = 1) -> float | None:
        """The best speedup of ``variant`` with at least ``min_workers`` workers, if any ran."""
        speedups = [r.speedup for r in self.measured(variant)
                    if r.speedup is not None and r.workers >= min_workers]
        return max(speedups) if speedups else None

    def row(self, variant: str) -> Row | None:
        """The first row of ``variant`` that ran, if any."""
        rows = self.measured(variant)
        return rows[0] if rows else None


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
        "load_average": load_average(),
        "executable": sys.executable,
    }


def load_average() -> float | None:
    """The 1-minute load average where the OS tells: how busy the machine was."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


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
            raw["label"] = exp.label
        return data
