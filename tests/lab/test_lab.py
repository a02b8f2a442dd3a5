"""`gilwise lab` in quick mode, run once for the module: its JSON, its chart, its table, and
the verdicts a real machine can give. (How long it takes is a benchmark:
benchmarks/bench_lab.py; every verdict's logic is tested on synthetic numbers in
test_verdicts.py.)"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from _workers import wait_for_no_workers
from gilwise.lab import EXPERIMENTS, LabReport, run_lab
from gilwise.lab.model import CONFIRMED, INCONCLUSIVE, REFUTED
from gilwise.lab.runners import Settings, gil_enabled, usable_cores

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class QuickRun:
    def __init__(self, report: LabReport, out: Path, printed: str) -> None:
        self.report, self.out, self.printed = report, out, printed
        self.data = json.loads((out / "gil-lab.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> QuickRun:
    out = tmp_path_factory.mktemp("lab")
    buffer = io.StringIO()
    report = run_lab(out, quick=True, console=Console(file=buffer, width=120))
    return QuickRun(report, out, buffer.getvalue())


def test_json_has_every_experiment_with_claim_rows_and_verdict(lab: QuickRun) -> None:
    experiments = {e["key"]: e for e in lab.data["experiments"]}
    assert list(experiments) == [key for key, _, _ in EXPERIMENTS]
    for key, exp in experiments.items():
        assert exp["claim"] and exp["control"] and exp["explanation"], key
        assert exp["verdict"] in (CONFIRMED, REFUTED, INCONCLUSIVE), key
        assert exp["label"].startswith(exp["verdict"]), key
        # every rule found the rows it reads: a real run is never short of measurements
        assert exp["because"] != "it could not be measured here", exp["explanation"]
        assert exp["rows"], key
        for row in exp["rows"]:
            assert {"variant", "workers", "seconds", "speedup", "skipped"} <= row.keys()
            assert row["skipped"] or row["seconds"] is not None or row["value"] is not None
        assert "could not run here" not in exp["explanation"], exp["explanation"]
    assert lab.data["machine"]["usable_cores"] == usable_cores()
    assert lab.data["quick"] is True


def test_skipped_rows_say_why(lab: QuickRun) -> None:
    cpu = lab.report.experiment("cpu")
    variants = {row.variant for row in cpu.rows}
    assert {"sequential", "threads", "processes", "sub-interpreters"} <= variants
    for row in cpu.rows:
        if row.skipped is not None:
            assert row.seconds is None and len(row.skipped) > 10


def test_png_is_a_real_chart(lab: QuickRun) -> None:
    import matplotlib.image

    path = lab.out / "gil-lab.png"
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert path.stat().st_size > 50_000
    pixels = matplotlib.image.imread(path)
    height, width = pixels.shape[:2]
    assert width > 1000 and height > 600
    assert pixels.std() > 0.05  # not a blank canvas


def test_printed_tables_name_every_experiment(lab: QuickRun) -> None:
    for number, (_, name, _) in enumerate(EXPERIMENTS, 1):
        assert f"{number}. {name}" in lab.printed
    assert any(f"{verdict}" in lab.printed for verdict in (CONFIRMED, REFUTED, INCONCLUSIVE))
    assert "control:" in lab.printed
    assert "gil-lab.png" in lab.printed and "gil-lab.json" in lab.printed


def test_refcount_moves_by_exactly_the_references_taken(lab: QuickRun) -> None:
    exp = lab.report.experiment("refcounts")
    rows = [r for r in exp.rows if r.unit == "references"]
    before, during, after = (r.value for r in rows)
    assert during - before == rows[1].workers * Settings.for_mode(quick=True).ref_count
    assert after == before
    unlocked, locked = (r.value for r in exp.rows if r.unit == "lost updates")
    assert unlocked > 0 and locked == 0
    assert exp.confirmed


@pytest.mark.skipif(not gil_enabled(), reason="threads run Python in parallel without a GIL")
def test_the_gil_claim_is_never_refuted_where_there_is_a_gil(lab: QuickRun) -> None:
    """On a busy machine the verdict may be inconclusive (processes did not scale either),
    but never refuted: with a GIL, threads cannot run Python in parallel."""
    cpu = lab.report.experiment("cpu")
    assert cpu.verdict in (CONFIRMED, INCONCLUSIVE), cpu.explanation
    if cpu.verdict == INCONCLUSIVE:
        assert cpu.because in ("the machine is busy",
                               "one usable core: nothing can run in parallel")


def test_no_worker_process_outlives_the_lab(lab: QuickRun) -> None:
    assert wait_for_no_workers() == []
