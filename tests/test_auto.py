"""Auto mode decides by measuring: how long a Python thread beside a task waits for the GIL,
and how long the task waits on something else.

Decisions come from timings, and this machine is shared: a test measures again (up to three
times) before it fails, and its failure lists every decision seen. The tests of decisions on
a busy machine are stricter: every decision must hold while another process spins.
"""

from __future__ import annotations

import _thread
import hashlib
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import gilwise
from _work import spin  # pure Python: holds the GIL (~20 ms for 200,000)
from gilwise import _threadclock
from gilwise.auto.decide import Decision, gil_enabled

BUFFER = b"x" * (16 * 1024 * 1024)


def wait(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def digest(_: int) -> str:
    """hashlib on a large buffer releases the GIL while it hashes."""
    return hashlib.sha256(BUFFER).hexdigest()[:8]


def explain_until(fn, items, wanted) -> Decision:
    """The first decision that ``wanted(decision)`` accepts, out of three measurements."""
    seen = []
    for _ in range(3):
        decision = gilwise.explain(fn, items)
        if wanted(decision):
            return decision
        seen.append(str(decision))
    pytest.fail("auto decided, three times:\n" + "\n".join(seen))


def test_io_bound_work_goes_to_threads_with_enough_of_them():
    decision = gilwise.explain(wait, [0.02] * 10)
    assert decision.mode == "threads"
    assert decision.workers >= 8  # enough to cover the wait, not one per core
    assert "I/O-bound" in decision.reason
    assert decision.figures["cpu_wall"] < 0.5


def test_a_first_call_that_sets_up_in_pure_python_does_not_decide():
    """The first call pays once (a lazy import, a cache): what the later calls do decides."""
    set_up = []

    def fetch(seconds: float) -> float:
        if not set_up:
            set_up.append(spin(300_000))
        return wait(seconds)

    decision = gilwise.explain(fetch, [0.01] * 20)
    assert decision.mode == "threads" and "I/O-bound" in decision.reason, str(decision)


def test_pure_python_cpu_work_goes_to_processes():
    if not gil_enabled():  # a free-threaded build runs it in parallel threads
        assert gilwise.explain(spin, [200_000] * 10).mode == "threads"
        return
    decision = explain_until(spin, [200_000] * 10, lambda d: d.mode == "processes")
    assert "holds the GIL" in decision.reason
    assert decision.figures["gil_held"] > 0.2


def test_gil_releasing_cpu_work_stays_in_threads():
    decision = explain_until(digest, range(10), lambda d: d.mode == "threads")
    if not gil_enabled():
        assert "free-threaded" in decision.reason
        return
    assert "releases the GIL" in decision.reason
    assert decision.figures["io_share"] < 0.5


def held_for(seconds: float) -> int:
    """How long a ``sum(range(n))`` must be to hold the GIL ``seconds`` (one C call: no switch
    interval makes it let go)."""
    began = time.perf_counter()
    sum(range(1_000_000))
    return int(seconds / ((time.perf_counter() - began) / 1_000_000))


@pytest.mark.skipif(not gil_enabled(), reason="no GIL to hold on a free-threaded build")
def test_a_moment_of_holding_the_gil_between_releasing_calls_does_not_decide():
    """A busy machine can take the core (or the VM's core) from a thread at the moment it
    holds the GIL between two calls that let go of it: the Python thread beside it then waits
    once, for milliseconds. A wait or two is not the work's habit: auto measures on."""
    n = held_for(0.004)

    def digest_held_once(i: int) -> str:
        if i in (2, 3):
            sum(range(n))  # the moment, as a busy machine would make it
        return digest(i)

    decisions = [gilwise.explain(digest_held_once, range(10)) for _ in range(3)]
    wrong = [str(d) for d in decisions if d.mode != "threads"]
    assert not wrong, "\n".join(wrong)


def test_a_first_call_waiting_on_a_native_thread_that_computes_is_not_io():
    """A first call may wait while a thread it started computes (a BLAS call starting its
    thread pool): blocked, but not on I/O. Here the helper thread is started below Python's
    ``threading`` (as a native library's would be) and hashes with the GIL released."""
    started: list[bool] = []
    end = _thread.allocate_lock()  # the helper stays, as a native pool's threads do
    end.acquire()

    def digest_after_a_helper_ran(i: int) -> str:
        if not started:
            started.append(True)
            done = _thread.allocate_lock()
            done.acquire()

            def helper() -> None:
                hashlib.sha256(BUFFER).digest()  # ~10 ms: a first item, whose figures go
                done.release()
                end.acquire()

            _thread.start_new_thread(helper, ())
            done.acquire()  # blocked while the helper computes
        return digest(i)

    try:
        decision = gilwise.explain(digest_after_a_helper_ran, range(10))
    finally:
        end.release()
    assert "I/O-bound" not in decision.reason, str(decision)


def test_work_that_cannot_be_pickled_stays_in_threads_and_says_why():
    lock = threading.Lock()

    def spin_holding_a_lock(n):
        with lock:
            pass
        return spin(n)

    decision = explain_until(spin_holding_a_lock, [200_000] * 10,
                             lambda d: "cannot go" in d.reason or "free-threaded" in d.reason)
    assert decision.mode == "threads"
    if not gil_enabled():  # threads are the right answer there anyway
        assert "free-threaded" in decision.reason
        return
    assert "cannot go to another process" in decision.reason
    assert "the function" in decision.reason


def test_items_run_to_decide_are_real_results_and_never_run_twice():
    calls = []
    lock = threading.Lock()

    def counted(x):
        with lock:
            calls.append(x)
        time.sleep(0.01)
        return x * 2

    results = gilwise.map(counted, range(30))
    assert list(results) == [x * 2 for x in range(30)]
    assert sorted(calls) == list(range(30))
    assert results.info.mode == "threads"


def test_decision_text_names_mode_workers_and_figures():
    decision = gilwise.explain(spin, [200_000] * 10)
    text = str(decision)
    assert text.startswith(f"{decision.mode}×{decision.workers}: ")
    # the measured figure behind the choice: the GIL wait, or cpu/wall where there is no GIL
    assert ("% of the time" if gil_enabled() else "cpu/wall") in text


def test_an_item_still_running_in_the_probe_does_not_hold_back_the_rest():
    def work(x):
        if x == 1:  # among the first items: run in the probe thread, still running at the choice
            time.sleep(2)
        return x

    order = list(gilwise.map(work, range(5000), ordered=False))
    assert sorted(order) == list(range(5000))
    # the items after the probed ones ran while the slow one slept, not after it
    assert order.index(4999) < order.index(1)


SERVER = textwrap.dedent("""
    import socket, sys, threading, time
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)

    def answer(conn):
        with conn:
            while conn.recv(64):
                time.sleep(0.01)  # a server 10 ms away
                conn.sendall(b"x" * 4096)

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=answer, args=(conn,), daemon=True).start()
""")


@pytest.fixture(scope="module")
def server_port():
    """A local TCP server in its own process: each request answered after 10 ms."""
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        yield int(server.stdout.readline())
    finally:
        server.kill()
        server.wait()


@pytest.fixture
def busy_core():
    """Another process keeping one core busy for the length of the test."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.1)  # under way
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


def read_from(port: int):
    def read(_: int) -> int:
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(b"get")
            return len(conn.recv(4096))
    return read


def workload(name: str, port: int):
    """(function, items, mode, what the reason says) for each kind of work."""
    return {
        "pure Python": (spin, [200_000] * 10, "processes", "holds the GIL"),
        "hashlib": (digest, range(10), "threads", "releases the GIL"),
        "sleep": (wait, [0.02] * 10, "threads", "I/O-bound"),
        "socket reads": (read_from(port), range(20), "threads", "I/O-bound"),
    }[name]


@pytest.mark.skipif(not gil_enabled(), reason="no GIL to hold on a free-threaded build")
@pytest.mark.skipif(not _threadclock.ThreadClock().exact, reason="needs /proc/<tid>/schedstat")
@pytest.mark.parametrize("name", ["pure Python", "hashlib", "sleep", "socket reads"])
def test_decisions_hold_while_another_process_keeps_a_core_busy(name, server_port, busy_core):
    fn, items, mode, why = workload(name, server_port)
    decisions = [gilwise.explain(fn, items) for _ in range(3)]
    wrong = [str(d) for d in decisions if d.mode != mode or why not in d.reason]
    assert not wrong, f"{name}: expected {mode} ({why}), got:\n" + "\n".join(wrong)


# Without the scheduler's figures, a decision made while the ticker waited for a core more than
# this share of the time is not held against auto (least of its windows, every window slowed)
BUSY_WITHOUT_FIGURES = 0.05


@pytest.mark.skipif(not gil_enabled(), reason="no GIL to hold on a free-threaded build")
@pytest.mark.parametrize("name", ["pure Python", "hashlib", "sleep", "socket reads"])
def test_without_the_schedulers_figures_cpu_time_still_decides(name, server_port, monkeypatch):
    """As on a system that does not tell waiting for a core (repeated windows): right on a
    quiet machine; where other processes kept the cores busy meanwhile (told here by this
    thread's real figures), no system without them can be, and the test says so."""
    fn, items, mode, why = workload(name, server_port)
    # this thread runs the ticker: its real waits for a core, read here, say whether other
    # processes took the cores meanwhile, which by CPU time alone look like waits for the GIL
    own = _threadclock.ThreadClock()
    monkeypatch.setattr(_threadclock, "SCHEDSTAT", "/nonexistent/{tid}")
    seen, busy = [], 0
    for _ in range(3):
        before = own.sample()
        decision = gilwise.explain(fn, items)
        if decision.mode == mode and why in decision.reason:
            assert "least of 20 ms windows" in decision.reason
            return
        queued = _threadclock.span(before, own.sample()).waiting
        busy += queued is not None and queued > BUSY_WITHOUT_FIGURES
        seen.append(f"{decision} (the ticker waited for a core {queued or 0:.0%} of the time)")
    own.close()
    if busy == len(seen):  # a platform without the figures cannot decide right there either
        pytest.skip("other processes kept the cores busy, which only the scheduler's figures "
                    "tell apart:\n" + "\n".join(seen))
    pytest.fail("auto decided, three times:\n" + "\n".join(seen))


def test_the_reason_says_how_sure_the_decision_is():
    decision = gilwise.explain(wait, [0.02] * 10)
    assert "clear after" in decision.reason or "borderline" in decision.reason
    assert "ms" in decision.reason


def spin_for(seconds: float) -> float:
    """Pure Python for ``seconds``: holds the GIL, so auto sends the rest to processes."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(1000):
            pass
    return seconds


def tagged(_: int):
    import _work

    return _work.TAG


def test_items_run_while_deciding_get_the_initializer():
    import _work

    _work.TAG = None
    results = gilwise.map(tagged, range(20), initializer=_work.remember, initargs=("ready",))
    assert list(results) == ["ready"] * 20


def test_an_initializer_failing_in_the_probe_fails_the_run_like_a_workers():
    def broken():
        raise RuntimeError("no database")

    with pytest.raises(gilwise.WorkerInitError, match="no database"):
        list(gilwise.map(tagged, range(5), initializer=broken))


def test_an_item_running_while_deciding_is_held_to_the_timeout():
    started = time.monotonic()
    results = list(gilwise.map(wait, [5.0] + [0.01] * 5, timeout=0.5, on_error="return"))
    assert isinstance(results[0], gilwise.Failure)
    assert results[0].exc_type == "TaskTimeout"
    assert results[1:] == [0.01] * 5
    assert time.monotonic() - started < 4.0  # not after the 5 s item had run to its end


def test_an_item_failing_while_deciding_is_retried():
    attempts: list[int] = []

    def flaky(x):
        attempts.append(x)
        if x == 0 and attempts.count(0) == 1:
            raise ConnectionError("first try")
        time.sleep(0.01)
        return x

    assert list(gilwise.map(flaky, range(10), retries=1, backoff=0.01)) == list(range(10))
    assert attempts.count(0) == 2


@pytest.mark.skipif(not gil_enabled(), reason="no processes chosen on a free-threaded build")
def test_processes_start_at_once_while_the_probes_item_still_runs():
    # the probe's running item holds one core's place, so one worker runs the six short
    # items beside it (0.6 s of work after a start of up to ~0.8 s on 3.14's forkserver)
    interval = sys.getswitchinterval()
    results = gilwise.map(spin_for, [4.0] + [0.1] * 6, ordered=False)
    order, intervals = [], []
    for value in results:
        order.append(value)
        intervals.append(sys.getswitchinterval())
    assert results.info.mode == "processes", results.info.reason
    # the short items ran in the workers while the long one still ran in the probe thread
    # (all of them, on a quiet machine; a busy one may start the worker seconds late)
    assert sorted(order) == [0.1] * 6 + [4.0] and order[0] == 0.1, order
    before_long = order.index(4.0)
    # ...which held the GIL: it changed hands every 0.5 ms meanwhile, so that this thread,
    # starting and feeding the workers, did not wait 5 ms for it after each system call
    assert max(intervals[:before_long]) <= 0.0005
    assert sys.getswitchinterval() == interval  # as it was, once the run is over


@pytest.mark.skipif(not gil_enabled(), reason="no processes chosen on a free-threaded build")
def test_an_initializer_that_cannot_go_to_a_process_keeps_the_work_in_threads():
    lock = threading.Lock()

    def setup():
        with lock:
            pass

    results = gilwise.map(spin, [200_000] * 10, initializer=setup)
    assert len(list(results)) == 10
    assert results.info.mode == "threads"
    assert "the initializer" in results.info.reason


def pool_threads() -> list[threading.Thread]:
    from gilwise.backends.threads import join_stopping

    join_stopping()
    return [t for t in threading.enumerate() if t.name.startswith("gilwise-thread")]


def test_a_pool_resizes_its_threads_from_map_to_map_rather_than_keeping_two_pools():
    with gilwise.Pool(mode="threads") as pool:
        for workers in (4, 8, 4, 8):
            assert list(pool.map(wait, [0.05] * 8, workers=workers)) == [0.05] * 8
            assert len(pool_threads()) <= workers
    assert not pool_threads()


def test_an_auto_pool_reused_for_identical_io_maps_keeps_one_thread_pool():
    with gilwise.Pool() as pool:
        for _ in range(4):
            results = pool.map(wait, [0.01] * 100)
            list(results)
            assert len(pool_threads()) <= results.info.workers


def test_a_process_pool_resizes_its_workers_from_map_to_map():
    from _workers import worker_processes

    others = len(worker_processes())  # this module's local server, say
    with gilwise.Pool(mode="processes") as pool:
        for workers in (1, 2, 1):
            assert list(pool.map(abs, [-1] * 8, workers=workers)) == [1] * 8
            assert len(worker_processes()) == others + workers


def test_explain_refuses_a_generator_rather_than_consume_its_items():
    def numbers():
        yield from range(10)

    gen = numbers()
    with pytest.raises(TypeError, match="iterator .*generator.*islice"):
        gilwise.explain(wait, gen)
    assert list(gen) == list(range(10))  # every item still there for the caller


def test_explain_reads_a_list_without_changing_it():
    items = [0.01] * 10
    gilwise.explain(wait, items)
    assert items == [0.01] * 10


def test_results_info_is_filled_in_as_its_docstring_says():
    results = gilwise.map(wait, [0.01] * 20)
    assert results.info.mode == "" and results.info.done == 0  # nothing started yet
    first = next(results)
    assert first == 0.01
    assert results.info.mode == "threads" and results.info.reason
    list(results)
    assert results.info.done == 20 and results.info.seconds > 0


def increment(x: int) -> int:
    return x + 1


def test_a_batch_over_in_milliseconds_starts_no_workers_and_says_so():
    # ~3 ms of work: a small batch even where a busy machine slows the probe's pace tenfold
    results = gilwise.map(increment, range(50_000))
    assert list(results) == list(range(1, 50_001))
    assert results.info.mode == "threads" and results.info.workers == 1
    assert "small batch" in results.info.reason


def peak_pool_threads(run) -> tuple[object, int]:
    """``run()``'s result, and the most gilwise pool threads alive at once while it ran."""
    peak, done = [0], threading.Event()

    def watch():
        while not done.is_set():
            alive = sum(t.name.startswith("gilwise-thread") for t in threading.enumerate())
            peak[0] = max(peak[0], alive)
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        return run(), peak[0]
    finally:
        done.set()
        watcher.join()


def test_a_growing_io_pool_records_each_change_and_never_exceeds_its_cap(monkeypatch):
    from gilwise.auto import decide as auto
    from gilwise.auto import io_threads as _iosize

    monkeypatch.setattr(auto, "UNSIZED_START", 16)  # where an input of unknown length starts...
    monkeypatch.setattr(_iosize, "MOST_THREADS", 48)  # ...and a cap that doubling would pass

    def run():
        results = gilwise.map(wait, (0.02 for _ in range(1500)))
        return list(results), results.info

    (values, info), peak = peak_pool_threads(run)
    assert values == [0.02] * 1500  # every result once, in order
    assert info.changes, info.reason  # it grew while the batch ran...
    assert all(change.after <= 48 for change in info.changes)
    assert peak <= 48  # ...never past the cap
    assert "workers" in str(info.changes[0])


def timed_wait(seconds: float) -> tuple[float, float]:
    """Waits; returns when it started and ended (time.monotonic)."""
    started = time.monotonic()
    time.sleep(seconds)
    return started, time.monotonic()


def test_an_io_bound_batch_gets_a_thread_for_each_item_left():
    """300 waits run in one round, the probe's own item included (Little's law: waiting
    items need a thread each), not in rounds of a fixed default: every item starts before
    the first of the pool's ends (the probe's started first: on a busy machine, starting 299
    threads may take longer than its wait)."""
    results = gilwise.map(timed_wait, [1.0] * 300)
    spans = list(results)
    assert len(spans) == 300
    assert max(start for start, _ in spans) < min(end for _, end in spans[1:]), \
        results.info.reason
    changes = results.info.changes
    started = changes[0].before if changes else results.info.workers
    assert 256 <= started <= 300, results.info.reason


def test_a_pool_that_only_queues_at_a_busy_resource_shrinks_and_says_why(monkeypatch):
    """A resource that serves four at a time (a server's connection limit, say): more
    threads only wait longer for it, so the pool backs off as latency climbs."""
    from gilwise.auto import io_threads as _iosize

    monkeypatch.setattr(_iosize, "MOST_THREADS", 64)  # periods of one item a worker: short
    slots = threading.BoundedSemaphore(4)

    def served(item: int) -> int:
        with slots:
            time.sleep(0.01)
        return item

    results = gilwise.map(served, range(600))
    assert list(results) == list(range(600))
    info = results.info
    shrinks = [c for c in info.changes if c.after < c.before]
    assert shrinks and "latency" in shrinks[0].why, [str(c) for c in info.changes]
    assert info.workers < 64


def test_a_pool_with_workers_asked_for_keeps_that_count():
    results = gilwise.map(wait, [0.02] * 300, workers=8)
    assert list(results) == [0.02] * 300
    assert results.info.workers == 8 and not results.info.changes


def test_auto_runs_no_more_tasks_at_once_than_its_workers_while_the_probe_item_runs():
    lock = threading.Lock()
    running, most = 0, 0

    def task(x: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.3)  # long next to auto's measure: the probe's item is still running
        with lock:
            running -= 1
        return x

    results = gilwise.map(task, range(6), mode="auto", workers=2, progress=False)
    assert list(results) == list(range(6))
    assert results.info.workers == 2
    assert most == 2


def test_a_batch_the_probe_finished_is_decided_at_once_without_measuring():
    """One item, done before a first measuring cycle: nothing is left to choose for."""
    results = gilwise.map(abs, [-1])
    assert list(results) == [1]
    assert (results.info.mode, results.info.workers) == ("threads", 1)
    assert "small batch" in results.info.reason
