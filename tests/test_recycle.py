"""Recycling workers: after ``max_tasks_per_child`` items, or once over
``max_memory_per_child``; and the hard ceiling, which kills a worker mid-item."""

from __future__ import annotations

import collections
import logging
import sys

import pytest

import gilwise
from _leaky import MB, blow_up, leak, pid
from gilwise._options import Options
from gilwise.backends.registry import MODE_SPECS

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


@pytest.mark.parametrize("start_method", ["fork", "forkserver", "spawn"])
def test_a_worker_serves_at_most_max_tasks_per_child_items(start_method, no_leftover_workers):
    results = gilwise.map(pid, range(40), mode="processes", workers=2, start_method=start_method,
                          max_tasks_per_child=5, chunksize=3)
    served = collections.Counter(results)
    assert sum(served.values()) == 40
    assert max(served.values()) <= 5  # items, not chunks: a chunk of 3 is cut where it ends
    assert len(served) >= 8
    assert results.info.recycled == sum(1 for n in served.values() if n == 5)


def test_recycles_are_logged_once_each(caplog):
    caplog.set_level(logging.INFO, logger="gilwise")
    results = gilwise.map(pid, range(12), mode="processes", workers=1, max_tasks_per_child=4)
    assert collections.Counter(results).most_common(1)[0][1] == 4
    lines = [r.getMessage() for r in caplog.records if "recycled" in r.getMessage()]
    assert len(lines) == results.info.recycled >= 2
    assert "4 items (max_tasks_per_child)" in lines[0]


@linux_only
def test_a_leaking_function_keeps_every_worker_under_its_line(no_leftover_workers):
    line = 80 * MB
    results = gilwise.map(leak, range(120), mode="processes", workers=2,
                          max_memory_per_child=line)
    rows = list(results)
    assert [value for value, _, _ in rows] == [x * 2 for x in range(120)]
    # each worker is measured after every item: none ends an item more than one item's leak
    # over the line (without recycling, 120 items x 5 MB would reach 300 MB a worker)
    assert max(memory for _, _, memory in rows) < line + 10 * MB
    assert len({worker for _, worker, _ in rows}) > 2
    assert results.info.recycled >= 2


@linux_only
def test_an_item_past_the_ceiling_is_killed_and_fails_alone(no_leftover_workers):
    results = gilwise.map(blow_up, range(8), mode="processes", workers=2, on_error="return",
                          max_memory_per_child="100MB")
    out = list(results)
    failure = out[3]
    assert isinstance(failure, gilwise.Failure)
    assert failure.exc_type == "WorkerDied"
    assert "memory ceiling of 200 MB" in failure.message
    assert [v for i, v in enumerate(out) if i != 3] == [x * 2 for x in range(8) if x != 3]
    assert results.info.failed == 1


def test_the_options_are_checked_with_one_line():
    with pytest.raises(ValueError, match="max_memory_per_child='lots' must be a number of bytes"):
        gilwise.map(pid, [1], mode="processes", max_memory_per_child="lots")
    with pytest.raises(ValueError, match="max_tasks_per_child=0 must be a positive integer"):
        gilwise.map(pid, [1], mode="processes", max_tasks_per_child=0)
    with pytest.raises(ValueError, match="max_tasks_per_child= is for mode='processes' or "
                       "'interpreters', not mode='threads'"):
        gilwise.map(pid, [1], mode="threads", max_tasks_per_child=3)
    assert Options(max_memory_per_child="1.5GB").max_memory_per_child == 1_500_000_000
    assert Options(max_memory_per_child="800 MiB").max_memory_per_child == 800 * MB


def test_a_pool_recycles_across_maps(no_leftover_workers):
    with gilwise.Pool(mode="processes", workers=1, max_tasks_per_child=3) as pool:
        first = list(pool.map(pid, range(4)))
        second = list(pool.map(pid, range(4)))
    served = collections.Counter(first + second)
    assert max(served.values()) <= 3 and sum(served.values()) == 8


def test_an_interpreter_is_recycled_after_max_tasks_per_child_items():
    why = MODE_SPECS["interpreters"].unavailable()
    if why:
        pytest.skip(why)
    results = gilwise.map(interpreter_id, range(20), mode="interpreters", workers=2,
                          max_tasks_per_child=4, chunksize=3)
    served = collections.Counter(results)
    assert sum(served.values()) == 20 and max(served.values()) <= 4
    assert results.info.recycled == sum(1 for n in served.values() if n == 4)


def interpreter_id(x: int) -> int:
    from concurrent import interpreters

    return interpreters.get_current().id


def test_the_command_line_recycles_and_counts_it_in_stats(tmp_path, capsys):
    from gilwise.cli.main import main

    items = tmp_path / "items.txt"
    items.write_text("".join(f"{i}\n" for i in range(9)))
    code = main(["map", "_leaky:pid", str(items), "--mode", "processes", "--workers", "1",
                 "--max-tasks-per-child", "3", "--stats", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0
    pids = collections.Counter(line.split('"value": ')[1].split(",")[0].rstrip("}")
                               for line in out.splitlines())
    assert sorted(pids.values()) == [3, 3, 3]
    assert "workers recycled" in err and "│ 3" in err.split("workers recycled")[1][:20]


def test_the_command_line_refuses_a_bad_size_in_one_line(tmp_path, capsys):
    from gilwise.cli.main import main

    items = tmp_path / "items.txt"
    items.write_text("1\n")
    code = main(["map", "_leaky:pid", str(items), "--mode", "processes",
                 "--max-memory-per-child", "lots"])
    _, err = capsys.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "max_memory_per_child='lots' must be a number of bytes" in err
