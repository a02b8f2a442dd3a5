"""Every verdict of the lab and the demo, from synthetic measurements: confirmed where the
claim held and its control too, refuted where the claim failed though the control held, and
inconclusive, naming the failed control, where the measurements could not test the claim
(a busy machine, one core, unsound counting). Nothing is run or timed here."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from gilwise.cli import demo
from gilwise.lab import process_cost, refcounts, scaling
from gilwise.lab.model import CONFIRMED, INCONCLUSIVE, REFUTED, Experiment, LabReport, Row
from gilwise.lab.report import print_experiment, print_summary, write_json

BUSY = "the machine is busy"


def scaling_experiment(key: str, threads: float, processes: float,
                       threads_label: str = "threads", one_thread: float = 1.0) -> Experiment:
    """Rows as experiments 2 to 4 write them: sequential, then each kind at 1 and 2 workers
    (one process runs at sequential speed, one thread at ``one_thread``; the given speedup is
    the two-worker one)."""
    exp = Experiment(key, key, "a claim", "a control")
    exp.rows.append(Row("sequential", 1, 1.0, 1.0))
    for label, alone, best in ((threads_label, one_thread, threads),
                               ("processes", 1.0, processes)):
        exp.rows += [Row(label, 1, 1.0 / alone, alone), Row(label, 2, 1.0 / best, best)]
    return exp


@pytest.mark.parametrize(("threads", "processes", "cores", "verdict", "because"), [
    (1.0, 1.9, 2, CONFIRMED, ""),
    (1.0, 1.05, 2, INCONCLUSIVE, BUSY),  # processes did not scale either
    (1.0, 1.0, 1, INCONCLUSIVE, "one usable core: nothing can run in parallel"),
    (1.8, 1.9, 2, REFUTED, ""),
])
def test_cpu_bound_claim_is_judged_only_where_processes_scaled(
        threads: float, processes: float, cores: int, verdict: str, because: str) -> None:
    exp = scaling_experiment("cpu", threads, processes)
    exp.judge(scaling.cpu_verdict(exp, cores, free_threaded=False, load=3.2))
    assert (exp.verdict, exp.because) == (verdict, because), exp.explanation


@pytest.mark.parametrize(("key", "verdict_of"), [
    ("cpu", lambda exp: scaling.cpu_verdict(exp, 2, free_threaded=False)),
    ("c-release", lambda exp: scaling.c_verdict(exp, 2)),
])
def test_scaling_claims_are_not_judged_on_a_disturbed_sequential_loop(key, verdict_of) -> None:
    """One thread alone 1.4× faster than the loop: other programs disturbed the loop's time,
    so no speedup measured against it means anything."""
    exp = scaling_experiment(key, 1.8, 1.9, one_thread=1.4)
    exp.judge(verdict_of(exp))
    assert exp.label == f"inconclusive: {BUSY}"
    assert "threads alone at 1.40×" in exp.explanation


def test_cpu_bound_claim_is_refuted_by_free_threaded_threads() -> None:
    exp = scaling_experiment("cpu", 1.9, 1.9, threads_label=scaling.FREE_THREADED)
    exp.judge(scaling.cpu_verdict(exp, 2, free_threaded=True))
    assert exp.verdict == REFUTED
    assert "without a GIL" in exp.explanation


def test_busy_verdict_names_the_failed_control_and_the_load() -> None:
    exp = scaling_experiment("cpu", 1.0, 1.05)
    exp.judge(scaling.cpu_verdict(exp, 2, free_threaded=False, load=3.2))
    assert exp.label == f"inconclusive: {BUSY}"
    assert "processes peaked at 1.05×" in exp.explanation and "3.2" in exp.explanation


@pytest.mark.parametrize(("threads", "processes", "verdict"), [
    (7.5, 8.0, CONFIRMED),
    (1.0, 1.0, INCONCLUSIVE),  # the waits did not overlap even in processes
    (1.1, 8.0, REFUTED),
    (2.0, 8.0, REFUTED),  # threads helped, but far less than processes
])
def test_io_bound_claim_is_judged_only_where_processes_overlapped_the_waits(
        threads: float, processes: float, verdict: str) -> None:
    exp = scaling_experiment("io", threads, processes)
    exp.judge(scaling.io_verdict(exp))
    assert exp.verdict == verdict, exp.explanation


@pytest.mark.parametrize(("threads", "processes", "cores", "verdict", "because"), [
    (1.9, 1.9, 2, CONFIRMED, ""),
    (1.0, 1.0, 2, INCONCLUSIVE, BUSY),
    (1.0, 1.0, 1, INCONCLUSIVE, "one usable core: nothing can run in parallel"),
    (1.0, 1.9, 2, REFUTED, ""),
])
def test_gil_releasing_claim_is_judged_only_where_processes_scaled(
        threads: float, processes: float, cores: int, verdict: str, because: str) -> None:
    exp = scaling_experiment("c-release", threads, processes)
    exp.judge(scaling.c_verdict(exp, cores))
    assert (exp.verdict, exp.because) == (verdict, because), exp.explanation


def refcount_experiment(moved: int, back: bool, lost: int, switches: int,
                        lost_locked: int) -> Experiment:
    before = 2
    exp = Experiment("refcounts", refcounts.NAME, refcounts.CLAIM, refcounts.CONTROL)
    exp.rows += [
        Row("before", 0, value=before, unit=refcounts.REFERENCES),
        Row("during", 4, value=before + moved, unit=refcounts.REFERENCES),
        Row("after", 4, value=before if back else before + 1, unit=refcounts.REFERENCES),
        Row("no lock", 4, value=lost, unit=refcounts.LOST),
        Row("turns", 4, value=switches, unit=refcounts.SWITCHES),
        Row("lock", 4, value=lost_locked, unit=refcounts.LOST),
    ]
    return exp


@pytest.mark.parametrize(("moved", "back", "lost", "switches", "lost_locked", "verdict",
                          "because"), [
    (4000, True, 120, 300, 0, CONFIRMED, ""),
    (4000, True, 120, 300, 7, INCONCLUSIVE, "the counting is unsound"),
    (4000, True, 0, 0, 0, INCONCLUSIVE, "the threads never took turns"),
    (4000, False, 120, 300, 0, INCONCLUSIVE, "something else held references"),
    (3998, True, 120, 300, 0, REFUTED, ""),
    (4000, True, 0, 300, 0, REFUTED, ""),  # they took turns, yet nothing was lost
])
def test_refcount_claim_is_judged_only_where_the_counting_is_sound(
        moved: int, back: bool, lost: int, switches: int, lost_locked: int, verdict: str,
        because: str) -> None:
    exp = refcount_experiment(moved, back, lost, switches, lost_locked)
    exp.judge(refcounts.verdict(exp, taken=4000))
    assert exp.verdict == verdict and exp.because.startswith(because), exp.explanation


def cost_experiment(process_start: float, chunked: float) -> Experiment:
    """Rows as experiment 5 writes them; threads: 100 µs to start, 20 ms for the trivial
    tasks, 1 ms for the big arguments; processes 60 ms and 30 ms."""
    exp = Experiment("process-cost", process_cost.NAME, process_cost.CLAIM,
                     process_cost.CONTROL)
    trivial, argument = process_cost.TRIVIAL, process_cost.ARGUMENT
    exp.rows += [
        Row(process_cost.START_THREAD, 1, 100e-6),
        Row(f"{process_cost.START_PROCESS} (fork)", 1, process_start),
        Row(f"{process_cost.START_PROCESS} (spawn)", 1, 0.05),
        Row(f"{trivial}sequential", 1, 1e-3, value=1e-3 / 300),
        Row(f"{trivial}threads", 2, 0.02, value=0.02 / 300),
        Row(f"{trivial}processes", 2, 0.06, value=0.06 / 300),
        Row(f"{trivial}{process_cost.CHUNKED}37 per message", 2, chunked),
        Row(f"4{argument}threads", 2, 1e-3),
        Row(f"4{argument}processes", 2, 0.03),
    ]
    return exp


@pytest.mark.parametrize(("process_start", "chunked", "verdict"), [
    (0.01, 0.005, CONFIRMED),
    (0.01, 0.08, INCONCLUSIVE),  # chunks did not help: the timings are noise
    (0.0005, 0.005, REFUTED),  # a process started only 5× slower than a thread
])
def test_process_cost_claim_is_judged_only_where_chunks_cut_the_cost(
        process_start: float, chunked: float, verdict: str) -> None:
    exp = cost_experiment(process_start, chunked)
    exp.judge(process_cost.verdict(exp, cores=2))
    assert exp.verdict == verdict, exp.explanation


@pytest.mark.parametrize(("threads", "processes", "cores", "verdict", "because"), [
    (2.05, 1.05, 2, CONFIRMED, ""),
    (2.05, 1.9, 2, INCONCLUSIVE, BUSY),
    (2.05, 2.0, 1, INCONCLUSIVE, "one usable core: nothing can run in parallel"),
    (1.1, 1.05, 2, REFUTED, ""),
])
def test_demo_says_threads_gain_nothing_only_where_processes_scaled(
        threads: float, processes: float, cores: int, verdict: str, because: str) -> None:
    exp = demo.gil_claim(2.0, threads, processes, cores, free_threaded=False)
    assert (exp.verdict, exp.because) == (verdict, because), exp.explanation


@pytest.mark.parametrize(("threads", "processes", "chose", "verdict"), [
    (2.0, 1.0, "processes", CONFIRMED),
    (2.0, 1.0, "threads", REFUTED),
    (1.0, 1.05, "threads", INCONCLUSIVE),  # as fast: no better pick to make
    (1.05, 1.0, "threads", INCONCLUSIVE),
])
def test_demo_judges_auto_only_where_one_mode_was_clearly_faster(
        threads: float, processes: float, chose: str, verdict: str) -> None:
    assert demo.auto_claim(threads, processes, chose).verdict == verdict


def test_a_failed_experiment_is_inconclusive_not_refuted() -> None:
    from gilwise.lab import _run_one
    from gilwise.lab.runners import Settings

    def broken(_: Settings) -> Experiment:
        raise OSError("no sockets here")

    exp = _run_one("io", scaling.IO_NAME, broken, Settings.for_mode(quick=True))
    assert exp.label == "inconclusive: it could not run here"
    assert "OSError: no sockets here" in exp.explanation


def busy_report() -> LabReport:
    exp = scaling_experiment("cpu", 1.0, 1.05)
    exp.name, exp.claim, exp.control = scaling.CPU_NAME, scaling.CPU_CLAIM, scaling.SPARE_CORES
    exp.judge(scaling.cpu_verdict(exp, 2, free_threaded=False, load=3.2))
    return LabReport(quick=True, machine={"usable_cores": 2, "python": "3.x"},
                     experiments=[exp])


def test_table_json_and_chart_show_the_same_inconclusive_verdict(tmp_path: Path) -> None:
    report = busy_report()
    printed = io.StringIO()
    console = Console(file=printed, width=200)
    print_experiment(console, 1, report.experiments[0])
    print_summary(console, report)
    assert printed.getvalue().count(f"inconclusive: {BUSY}") == 2
    assert "confirmed" not in printed.getvalue()

    data = json.loads(write_json(report, tmp_path / "lab.json").read_text(encoding="utf-8"))
    cpu = data["experiments"][0]
    assert (cpu["verdict"], cpu["because"], cpu["confirmed"]) == (INCONCLUSIVE, BUSY, False)
    assert cpu["label"] == f"inconclusive: {BUSY}" and cpu["control"]

    pytest.importorskip("matplotlib")
    import matplotlib.text

    from gilwise.lab.chart import draw

    texts = " ".join(t.get_text() for t in draw(report).findobj(matplotlib.text.Text))
    assert f"INCONCLUSIVE: {BUSY}" in texts and "CONFIRMED" not in texts
