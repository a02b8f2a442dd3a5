"""The lab as one PNG: a panel per experiment, so the numbers can be shared as a picture."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from gilwise.lab.model import CONFIRMED, INCONCLUSIVE, MARKS, REFUTED, Experiment, LabReport

COLORS = {"threads": "tab:blue", "threads (free-threaded)": "tab:cyan",
          "processes": "tab:orange", "sub-interpreters": "tab:green"}
VERDICT_COLORS = {CONFIRMED: "#1a7f37", REFUTED: "#cf222e", INCONCLUSIVE: "#b35900"}


def _title(ax: Any, number: int, exp: Experiment) -> None:
    ax.set_title(f"{number}. {exp.name}  {MARKS[exp.verdict]}", fontsize=11,
                 fontweight="bold", color=VERDICT_COLORS[exp.verdict])


def _refcounts(ax: Any, exp: Experiment) -> None:
    rows = [r for r in exp.rows if r.unit == "references"]
    if not rows:
        return
    labels = [r.variant.removeprefix("refcount: ") for r in rows]
    values = [r.value or 0 for r in rows]
    bars = ax.bar(range(len(rows)), values, color=["tab:gray", "tab:red", "tab:gray"][:len(rows)])
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=9)
    ax.set_xticks(range(len(rows)), [label.replace(" hold", "\nhold") for label in labels],
                  fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("sys.getrefcount (log scale)")
    races = [r for r in exp.rows if r.unit == "lost updates"]
    text = "\n".join(f"{r.variant.removeprefix('counter += 1, ')}: {r.note}" for r in races)
    ax.text(0.5, 0.97, "threads bumping one counter:\n" + text, transform=ax.transAxes,
            va="top", ha="center", fontsize=8,
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.9})
    ax.set_ylim(top=max(values) * 200)


def _scaling(ax: Any, exp: Experiment, ideal_up_to: int | None) -> None:
    """Speedup against workers for each variant, with 'no gain' and 'ideal' for reference."""
    workers_seen: set[int] = set()
    for variant, color in COLORS.items():
        rows = exp.measured(variant)
        if not rows:
            continue
        xs, ys = [r.workers for r in rows], [r.speedup or 0 for r in rows]
        workers_seen.update(xs)
        ax.plot(xs, ys, "o-", color=color, linewidth=2,
                label=f"{variant} (best {max(ys):.2f}×)")
    if not workers_seen:
        return
    top = max(workers_seen)
    xs = sorted(workers_seen)
    ideal = [min(x, ideal_up_to) if ideal_up_to else x for x in xs]
    ax.plot(xs, ideal, "--", color="gray", label="ideal" if not ideal_up_to
            else f"ideal ({ideal_up_to} core{'s' if ideal_up_to > 1 else ''})")
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle=":", label="sequential (1×)")
    if top > 4:
        ax.set_xscale("log", base=2)
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.set_xlabel("workers")
    ax.set_ylabel("speedup vs sequential (×)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")


def _costs(ax: Any, exp: Experiment) -> None:
    """Start-up and per-task costs on one log axis, threads blue and processes orange."""
    rows = [r for r in exp.rows if r.skipped is None and "sequential" not in r.variant]
    if not rows:
        return
    values = [(r.value if r.unit == "seconds per task" else r.seconds) or 1e-9 for r in rows]
    labels = [r.variant.replace("trivial tasks", "trivial task").replace(" per message", "/msg")
              + (", per task" if r.unit == "seconds per task" else "") for r in rows]
    colors = ["tab:blue" if "thread" in r.variant else "tab:orange" for r in rows]
    ys = range(len(rows))
    ax.set_xscale("log")
    left = min(values) / 3
    bars = ax.barh(ys, [v - left for v in values], left=left, color=colors)
    ax.bar_label(bars, labels=[_short(v) for v in values], fontsize=8, padding=2)
    ax.set_yticks(ys, labels, fontsize=8)
    ax.set_xlim(left, max(values) * 30)
    ax.invert_yaxis()
    ax.set_xlabel("seconds (log scale)")
    ax.grid(axis="x", alpha=0.3)


def _short(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.1f} µs"


def _verdicts(ax: Any, report: LabReport) -> None:
    ax.axis("off")
    ax.set_title("Verdicts on this machine", fontsize=11, fontweight="bold")
    y = 0.97
    for number, exp in enumerate(report.experiments, 1):
        label = exp.verdict.upper() + (f": {exp.because}" if exp.because else "")
        head = textwrap.fill(f"{number}. {exp.name}: {MARKS[exp.verdict]} {label}", 80)
        ax.text(0.0, y, head, color=VERDICT_COLORS[exp.verdict], fontsize=9,
                fontweight="bold", transform=ax.transAxes, va="top")
        y -= 0.035 * (head.count("\n") + 1) + 0.01
        claim = textwrap.fill(f"claim: {exp.claim}", 90)
        ax.text(0.03, y, claim, fontsize=8, transform=ax.transAxes, va="top")
        y -= 0.033 * (claim.count("\n") + 1) + 0.04


def render(report: LabReport, path: Path) -> Path:
    """Draws the chart with matplotlib's Agg backend (no display needed) and saves it."""
    import matplotlib.pyplot as plt

    fig = draw(report)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def draw(report: LabReport) -> Any:
    """The chart as a matplotlib Figure: a panel per experiment and one of verdicts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cores = report.machine.get("usable_cores", 1)
    fig, axes = plt.subplots(2, 3, figsize=(18, 10), layout="constrained")
    panels = {"refcounts": (axes[0][0], None), "cpu": (axes[0][1], cores),
              "io": (axes[0][2], None), "c-release": (axes[1][0], cores),
              "process-cost": (axes[1][1], None)}
    for number, exp in enumerate(report.experiments, 1):
        ax, ideal = panels.get(exp.key, (None, None))
        if ax is None:
            continue
        if exp.key == "refcounts":
            _refcounts(ax, exp)
        elif exp.key == "process-cost":
            _costs(ax, exp)
        else:
            _scaling(ax, exp, ideal)
        _title(ax, number, exp)
    _verdicts(axes[1][2], report)
    m = report.machine
    gil = "GIL on" if m.get("gil_enabled", True) else "free-threaded, GIL off"
    fig.suptitle(f"gilwise lab — what the GIL does here: Python {m.get('python')} ({gil}), "
                 f"{cores} usable core(s), {'quick' if report.quick else 'full'} run",
                 fontsize=14, fontweight="bold")
    return fig
