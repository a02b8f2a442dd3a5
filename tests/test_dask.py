"""mode="dask" on real clusters: a LocalCluster of 2 worker processes, and a `dask scheduler`
+ `dask worker` pair started as subprocesses, both kept for the module (a cluster costs ~1 s)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

distributed = pytest.importorskip(
    "distributed", reason="Dask distributed is not installed (pip install 'gilwise[dask]')"
)

import _work  # noqa: E402
import gilwise  # noqa: E402
from gilwise._engine.loop import Engine  # noqa: E402
from gilwise._options import Options  # noqa: E402
from gilwise.backends.dask import DaskBackend  # noqa: E402

SRC = Path(gilwise.__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
DASK = Path(sys.executable).with_name("dask")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(TESTS)])}


@pytest.fixture(scope="module")
def local_client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", silence_logs=40) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        yield client


@pytest.fixture(scope="module")
def scheduler():
    """The address of a `dask scheduler` with one `dask worker` (1 thread), as subprocesses."""
    address = f"tcp://127.0.0.1:{free_port()}"
    common = dict(env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port",
                                 address.rsplit(":", 1)[1], "--no-dashboard"], **common)]
    try:
        started.append(subprocess.Popen([DASK, "worker", address, "--nthreads", "1",
                                         "--nworkers", "1", "--no-dashboard"], **common))
        with distributed.Client(address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(1, timeout=30)
        yield address
    finally:
        for process in reversed(started):
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()
            process.wait()


@pytest.fixture(params=["local", "subprocesses"])
def cluster(request) -> dict:
    """The options that point gilwise at each of the two clusters."""
    if request.param == "local":
        return {"client": request.getfixturevalue("local_client")}
    return {"scheduler": request.getfixturevalue("scheduler")}


def test_results_come_in_input_order(cluster):
    result = gilwise.map(_work.square, range(500), mode="dask", **cluster)
    assert list(result) == [x * x for x in range(500)]
    assert result.info.mode == "dask"


def test_unordered_results_are_every_result(cluster):
    items = [0.05, 0.0, 0.02, 0.0] * 5
    result = gilwise.map(_work.sleep_then_return, items, mode="dask", ordered=False,
                         chunksize=1, **cluster)
    assert sorted(result) == sorted(items)


def test_failures_carry_the_remote_traceback(local_client):
    results = list(gilwise.map(_work.fail_on_seven, range(10), mode="dask", on_error="return",
                               client=local_client))
    failure = results[7]
    assert not failure and failure.exc_type == "Boom" and "seven is bad" in failure.message
    assert "fail_on_seven" in failure.traceback  # the frame that raised, in the worker
    assert results[:7] + results[8:] == [x for x in range(10) if x != 7]


def flaky(path: str) -> str:
    """Fails the first time it sees ``path`` (in any worker process), then succeeds."""
    marker = Path(path)
    if not marker.exists():
        marker.touch()
        raise ConnectionError(f"first try of {marker.name}")
    return marker.name


def test_failed_items_are_retried_with_gilwises_backoff(local_client, tmp_path):
    paths = [str(tmp_path / f"item{i}") for i in range(6)]
    result = gilwise.map(flaky, paths, mode="dask", retries=1, backoff=0.01,
                         retry_on=ConnectionError, client=local_client)
    assert list(result) == [f"item{i}" for i in range(6)]
    assert result.info.retried == 6


def test_a_huge_generator_keeps_a_bounded_window_of_futures(local_client):
    read = 0

    def items():
        nonlocal read
        for i in range(100_000):
            read += 1
            yield i

    backend = DaskBackend(Options(mode="dask", client=local_client))
    backend.start()
    engine = Engine(backend, _work.square, items(), backend.options)
    total = 0
    for segment in engine.segments():
        total += len(segment.values)
        assert read - total <= engine._limit()  # the input is read lazily
    assert total == 100_000
    assert 1 <= backend.peak_in_flight <= backend.capacity() == 4  # 2 chunks a thread


def test_a_journal_resumes_where_the_last_run_stopped(local_client, tmp_path):
    journal = tmp_path / "run.db"
    first = gilwise.map(_work.square, range(200), mode="dask", journal=journal, chunksize=10,
                        client=local_client)
    for _ in zip(range(50), first):
        pass
    first.close()
    second = gilwise.map(_work.square, range(200), mode="dask", journal=journal,
                         client=local_client)
    assert list(second) == [x * x for x in range(200)]
    assert second.info.from_journal >= 50


def test_a_worker_killed_mid_batch_loses_nothing(local_client):
    victim = psutil.Process(next(iter(local_client.run(os.getpid).values())))
    results = []
    for value in gilwise.map(_work.sleep_then_return, [0.01] * 300, mode="dask", chunksize=5,
                             client=local_client):
        if len(results) == 50:  # chunks are out on both workers now
            victim.kill()
        results.append(value)
    assert results == [0.01] * 300
    victim.wait(5)
    assert not victim.is_running()  # it did die, mid-batch
    local_client.wait_for_workers(2, timeout=30)  # the nanny restarted it


def exit_on_three(x: int) -> int:
    if x == 3:
        os._exit(1)
    return x


def test_an_item_that_kills_every_worker_fails_alone_with_worker_died(local_client):
    results = list(gilwise.map(exit_on_three, range(6), mode="dask", chunksize=2,
                               on_error="return", client=local_client))
    assert results[3].exc_type == "WorkerDied"
    assert results[:3] + results[4:] == [0, 1, 2, 4, 5]
    local_client.wait_for_workers(2, timeout=30)


def slow_exit_on_three(x: int) -> int:
    time.sleep(0.05 if x == 3 else 0.3)  # item 3 dies while the others still run
    return exit_on_three(x)


def test_the_items_of_a_chunk_that_killed_its_workers_run_again_one_at_a_time():
    """Dask fails every task that was on a worker which died allowed-failures times: item 2,
    sent again beside item 3 on the same worker, would die with it."""
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                                  dashboard_address=":0", silence_logs=50) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        results = list(gilwise.map(slow_exit_on_three, range(6), mode="dask", chunksize=2,
                                   on_error="return", client=client))
    assert results[3].exc_type == "WorkerDied"
    assert results[:3] + results[4:] == [0, 1, 2, 4, 5]


def test_without_a_cluster_one_is_started_for_the_batch_and_closed_after():
    before = {p.pid for p in psutil.Process().children()}
    assert list(gilwise.map(_work.square, range(10), mode="dask", workers=1)) == [
        x * x for x in range(10)]
    deadline = time.monotonic() + 10
    while {p.pid for p in psutil.Process().children()} - before:
        assert time.monotonic() < deadline, "the LocalCluster's worker outlived the batch"
        time.sleep(0.1)


def test_no_thread_started_for_a_batch_outlives_it():
    """Dask's own executors included (done callbacks, offloading): a fork after the batch
    would see them, and processes would start from a forkserver instead."""
    import threading

    before = set(threading.enumerate())
    assert list(gilwise.map(_work.square, range(10), mode="dask", workers=1)) == [
        x * x for x in range(10)]
    deadline = time.monotonic() + 10
    while set(threading.enumerate()) - before:
        assert time.monotonic() < deadline, set(threading.enumerate()) - before
        time.sleep(0.1)


def test_explain_reports_the_clusters_workers_and_threads(scheduler):
    decision = gilwise.explain(_work.square, [1], mode="dask", scheduler=scheduler)
    assert decision.mode == "dask" and decision.workers == 1
    assert decision.reason == f"dask: 1 workers, 1 threads at {scheduler}"


@pytest.mark.timeout(8)  # fast: a TCP check, not Client's 5 s of retries
def test_a_dead_scheduler_address_fails_fast_naming_it():
    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(gilwise.GilwiseError, match=f"scheduler at {address} does not answer"):
        list(gilwise.map(_work.square, [1], mode="dask", scheduler=address))
    cli = subprocess.run([sys.executable, "-m", "gilwise", "map", "_work:square", "-",
                          "--json", "--mode", "dask", "--scheduler", address],
                         input="1\n", capture_output=True, text=True, env=env(), timeout=7)
    assert cli.returncode == 1
    assert cli.stderr.strip().splitlines() == [
        f"gilwise: error: the Dask scheduler at {address} does not answer: "
        + cli.stderr.split("does not answer: ", 1)[1].strip()]


def test_the_cluster_options_belong_to_dask_mode():
    with pytest.raises(ValueError, match="scheduler= is for mode='dask'"):
        gilwise.map(_work.square, [1], mode="threads", scheduler="tcp://127.0.0.1:8786")


def test_without_distributed_dask_mode_says_how_to_install_it():
    code = ("import sys; sys.modules['distributed'] = None; import gilwise\n"
            "try: list(gilwise.map(abs, [1], mode='dask'))\n"
            "except gilwise.GilwiseError as e: print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env(), timeout=60).stdout
    assert "pip install 'gilwise[dask]'" in out


def test_ctrl_c_of_the_cli_exits_130_and_cancels_the_pending_tasks(scheduler, tmp_path):
    (tmp_path / "items.txt").write_text("0.2\n" * 100)
    cli = subprocess.Popen(
        [sys.executable, "-m", "gilwise", "map", "_work:sleep_then_return", "items.txt",
         "--json", "--mode", "dask", "--scheduler", scheduler, "--chunksize", "1",
         "-o", "out.jsonl"],
        cwd=tmp_path, env=env(), stderr=subprocess.PIPE, text=True,
    )
    out = tmp_path / "out.jsonl"
    deadline = time.monotonic() + 30
    while not (out.exists() and out.read_text().count("\n") >= 2):
        assert time.monotonic() < deadline and cli.poll() is None, "no result came"
        time.sleep(0.05)
    cli.send_signal(signal.SIGINT)
    _, err = cli.communicate(timeout=20)
    assert cli.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    with distributed.Client(scheduler, timeout=10, set_as_default=False) as client:
        deadline = time.monotonic() + 10
        while client.run_on_scheduler(_task_count):
            assert time.monotonic() < deadline, "the CLI's tasks stayed on the scheduler"
            time.sleep(0.1)


def _task_count(dask_scheduler) -> int:
    return len(dask_scheduler.tasks)


def test_a_task_past_the_timeout_is_reported_timed_out(local_client):
    results = list(gilwise.map(_work.sleep_then_return, [0.0, 0.0, 2.0, 0.0], mode="dask",
                               timeout=0.5, on_error="return", client=local_client))
    assert results[2].exc_type == "TaskTimeout"  # Dask cannot stop it: it was given up on
    assert results[:2] + results[3:] == [0.0, 0.0, 0.0]


def test_a_pool_keeps_its_cluster_across_maps_and_reports_outcomes():
    with gilwise.Pool(mode="dask", workers=1) as pool:
        first = list(pool.map(_work.square, range(5), outcomes=True, stats=True))
        second = pool.map(_work.square, range(5))
        assert list(second) == [x * x for x in range(5)]
    assert [o.value for o in first] == [x * x for x in range(5)]
    assert {o.worker for o in first} == {first[0].worker} != {""}  # the one worker's address
    assert second.info.workers == 1


def tag_seen(_: object) -> str | None:
    return _work.TAG


def test_the_initializer_runs_in_each_worker_before_its_first_task(local_client):
    tag = f"run-{time.monotonic_ns()}"
    results = gilwise.map(tag_seen, range(20), mode="dask", chunksize=1, client=local_client,
                          initializer=_work.remember, initargs=(tag,))
    assert set(results) == {tag}
    with pytest.raises(gilwise.WorkerInitError, match="no model file"):
        list(gilwise.map(tag_seen, range(4), mode="dask", client=local_client,
                         initializer=_work.fail_init))


def test_the_scheduler_address_defaults_to_the_environment(scheduler, monkeypatch):
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", scheduler)
    assert gilwise.explain(_work.square, [1], mode="dask").reason.endswith(f"at {scheduler}")


def test_a_big_function_goes_to_the_workers_once_and_runs(local_client):
    table = list(range(50_000))  # ~250 kB pickled: scattered once, not sent with each task
    result = gilwise.map(lambda x: table[x] * 2, range(0, 50_000, 1000), mode="dask",
                         chunksize=5, client=local_client)
    assert list(result) == [x * 2 for x in range(0, 50_000, 1000)]


def test_a_big_bound_object_is_unpickled_once_per_worker_not_once_per_task(local_client, tmp_path):
    log = tmp_path / "unpickled"
    bound = _work.CountsUnpickling(str(log), 2_000_000)  # a 2 MB model in a bound method
    result = gilwise.map(bound.length, range(40), mode="dask", chunksize=1, client=local_client)
    assert list(result) == [2_000_000 + x for x in range(40)]
    pids = log.read_text().split()
    assert len(pids) == len(set(pids)) <= 2, f"unpickled {len(pids)} times for 40 tasks"


def test_the_cli_takes_a_scheduler_only_with_mode_dask():
    cli = subprocess.run([sys.executable, "-m", "gilwise", "map", "_work:square", "-", "--json",
                          "--scheduler", "tcp://127.0.0.1:8786"],
                         input="1\n", capture_output=True, text=True, env=env(), timeout=60)
    assert cli.returncode == 2
    assert cli.stderr == "gilwise: error: --scheduler is for --mode dask\n"


def test_a_scripts_functions_and_classes_travel_by_value(scheduler, tmp_path):
    script = tmp_path / "script.py"
    script.write_text(
        "import sys, gilwise\n"
        "class Point:\n"
        "    def __init__(self, x): self.x = x\n"
        "def double(p): return p.x * 2  # the class travels with the items, not with it\n"
        "out = gilwise.map(double, [Point(i) for i in range(5)], mode='dask',\n"
        "                  scheduler=sys.argv[1])\n"
        "print(list(out))\n"
    )
    run = subprocess.run([sys.executable, str(script), scheduler], capture_output=True,
                         text=True, env=env(), timeout=60)
    assert run.stdout == "[0, 2, 4, 6, 8]\n", run.stderr


def test_coroutine_functions_are_awaited_on_the_workers_loops(local_client, tmp_path):
    import _async_work as aw

    assert list(gilwise.map(aw.double, range(300), mode="dask", client=local_client)) == [
        2 * x for x in range(300)]
    items = [(x, str(tmp_path)) for x in range(4)]
    got = list(gilwise.map(aw.hang_then_mark, items, mode="dask", client=local_client,
                           timeout=0.5, on_error="return"))
    assert isinstance(got[0], gilwise.Failure) and got[0].exc_type == "TaskTimeout"
    assert got[1:] == [1, 2, 3]
    assert (tmp_path / "finally-0").read_text() == "ran"  # cancelled in the worker


@pytest.mark.parametrize("stop", ["break", "error"])
def test_stopping_early_cancels_the_coroutines_running_on_the_workers(local_client, stop,
                                                                      tmp_path):
    """tests/test_coroutines.py's check, on a cluster that lives on after the batch: the
    tasks cancelled, their coroutines are too (the quick chunk on one worker, the 3 hanging
    items on the other)."""
    from test_coroutines import stop_early_and_check

    stop_early_and_check(tmp_path, stop, 3, mode="dask", client=local_client)


def test_rate_holds_on_a_local_cluster(local_client):
    import _async_work as aw

    starts = sorted(gilwise.map(aw.started_at, range(25), mode="dask", client=local_client,
                                rate=20))
    assert max(sum(1 for u in starts if s <= u < s + 1) for s in starts) <= 20
