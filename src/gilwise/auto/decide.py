"""``mode="auto"``: measure the first items, then choose threads or processes, and say why.

The first items run in a probe thread while this thread measures beside it
(``_gilmeter``, 20 ms after the first item, longer while the figures are ambiguous). Two
figures come out, both unaffected by other processes keeping the cores busy where the OS tells
the time a thread waits for a core (Linux):

1. the share of the time a Python thread beside the work waited for the GIL. Work that holds
   the GIL (pure Python, json, re) keeps it waiting (0.4 to 0.9): it goes to processes, if
   the function and items can be sent to one. Work that releases the GIL (waiting on I/O,
   hashlib, zlib, NumPy, subprocesses) hardly at all.
2. the share of the probe thread's time it was blocked on something else than the GIL: more
   than half means I/O-bound, so threads, enough to cover the wait, whatever the GIL says;
   mostly computing with the GIL released means threads, one per core.

On a free-threaded build with the GIL off, threads run Python in parallel: threads, many
for I/O-bound work, one per core otherwise. Sub-interpreters (3.14) are never chosen: measured
here, processes beat them at every batch size (benchmarks/bench_interpreters.py), and only
processes survive a crash and can kill a task past its timeout.

The probed items are real results, and the probe thread is a worker of the batch (the
initializer first, the timeout and retries for its items). When the window closes the
decision is made at once; an item still running in the probe thread finishes there while the
chosen workers start on the rest, and its result joins the others (the engine adopts it).
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from gilwise._cores import usable_cores
from gilwise._coro import auto_reason, is_async
from gilwise._options import Options
from gilwise._outcome import WorkerInitError
from gilwise._result import Decision
from gilwise._segment import Tail
from gilwise.auto.gilmeter import PROBE_SWITCH_INTERVAL, Measure, measure
from gilwise.auto.input import Sized, Source
from gilwise.auto.io_threads import io_threads, thread_cap
from gilwise.auto.native import NATIVE_PARALLEL, PARALLEL_ABOVE, NativeDemand
from gilwise.auto.probe import ProbeRunner, Trial
from gilwise.backends.registry import check_options, describe

# An input of unknown length starts an I/O-bound pool with at most this many threads, and
# grows it while throughput rises: the engine reads up to three items a thread ahead of the
# pool, which a stream pays for in memory and waiting (a known length gives what it needs)
UNSIZED_START = 64
# A batch whose rest would take one thread less than this, at the probe thread's pace, stops
# measuring and runs in one thread: starting more workers would cost more than they save
# (a tiny batch: 200,000 calls of x + 1, say)
SMALL_REST_SECONDS = 0.05


def gil_enabled() -> bool:
    """False only on a free-threaded build running with the GIL off."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


def probe(fn: Callable[[Any], Any], items: Iterable[Any], options: Options) -> Trial:
    """Run the first items, measuring, and decide the mode for the rest."""
    from gilwise.backends.threads import join_stopping

    # the threads of a batch just over hold the GIL as they exit: beside the probe, they
    # would slow it and count as the work's (300 exit in about 20 ms on a busy machine)
    join_stopping()
    total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    reader = Source(items)
    plain = isinstance(items, (list, tuple, range))  # nothing can fail while reading these
    runner = ProbeRunner(fn, iter(items) if plain else iter(reader), options)
    cores = usable_cores()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(PROBE_SWITCH_INTERVAL)
    small = _small_rest(runner, total)
    try:
        demand = NativeDemand()
        runner.start()
        measured = measure(runner, small, demand.busy)
        measured.native_cores = demand.cores(runner)
    finally:
        sys.setswitchinterval(interval)
    small_batch = small()
    count = runner.stop()
    if not runner.is_alive() or count == 0:
        runner.join()  # it had finished, or is between items: nothing left to wait for
    if runner.init_error is not None:
        info = runner.init_error
        raise WorkerInitError(f"the initializer failed in auto mode's probe thread: "
                              f"{info.exc_type}: {info.message}\n{info.traceback}")
    if small_batch:
        decision = Decision("threads", options.workers or 1, "a small batch: the rest takes "
                            "one thread less time than starting more workers would (measuring "
                            "stopped early)")
    else:
        # the items still to run at once, counting the probe's own if it still runs: the
        # engine counts that item as holding a worker's place while it does
        remaining = None if total is None else total - len(runner.values)
        decision = _decide(fn, runner.items, measured, cores, options, remaining)
        decision.item_seconds = runner.alone_seconds()
    decision.figures.update(measured.figures())
    decision.figures["probe_seconds"] = time.perf_counter() - runner.began
    rest: Iterable[Any]
    if plain:
        rest = Tail(items, count)  # the engine slices it as it would the whole input
    else:
        unread = itertools.chain(runner.held_back, reader.rest())
        rest = unread if total is None else Sized(unread, total - count)
    return Trial.of(decision, runner, count, rest)


def _small_rest(runner: ProbeRunner, total: int | None) -> Callable[[], bool]:
    """Whether the rest of the batch, at the pace the probe thread keeps, would be over in
    less than SMALL_REST_SECONDS (never for an input of unknown length)."""

    def small() -> bool:
        done = len(runner.values)
        if total is not None and done >= total:
            return True  # the whole batch is over: nothing is left to decide for
        if total is None or done < 100:
            return False
        per_item = (time.perf_counter() - runner.began) / done
        return (total - done) * per_item < SMALL_REST_SECONDS

    return small


def _decide(fn: Callable, ran: list[Any], measured: Measure, cores: int, options: Options,
            remaining: int | None) -> Decision:
    if not ran:
        return Decision("threads", 1, "no items to run")
    sure = measured.certainty()
    if not gil_enabled():  # no GIL to contend for: waiting or computing is all that counts
        if measured.io_bound:
            return _io_bound(measured, cores, options, remaining)
        if measured.native_cores > PARALLEL_ABOVE:
            return _native_parallel(measured, cores, options)
        return Decision("threads", options.workers or cores,
                        f"CPU-bound (cpu/wall {measured.cpu_wall:.2f}) on a free-threaded "
                        f"build with the GIL off: threads run Python in parallel; {sure}")
    # Where the scheduler tells the GIL's share apart, waiting comes first: I/O-bound work
    # goes to threads even when it holds the GIL a little. By CPU time alone, a thread that
    # waits for the GIL looks like one waiting for I/O: the GIL is judged first.
    if measured.exact and measured.io_bound:
        return _io_bound(measured, cores, options, remaining)
    kept = measured.gil_words()
    if measured.holds_gil:
        if cores < 2:
            return Decision("threads", 1, "one usable core: nothing runs in parallel")
        unpicklable = _unpicklable(fn, ran[0], options)
        if unpicklable:
            return Decision("threads", options.workers or cores, f"holds the GIL ({kept}), "
                            f"but {unpicklable} cannot go to another process; {sure}")
        return Decision("processes", options.workers or cores,
                        f"CPU-bound and holds the GIL ({kept}); {sure}")
    # computing with the GIL free, on more than the probe thread's core: not where the probe
    # thread mostly waited (the cores counted are then native threads busy with something
    # else: BLAS's threads spin a moment after the caller's last call)
    if measured.native_cores > PARALLEL_ABOVE and not measured.io_bound:
        return _native_parallel(measured, cores, options)
    if measured.io_bound:
        return _io_bound(measured, cores, options, remaining)
    return Decision("threads", options.workers or cores,
                    f"CPU-bound (cpu/wall {measured.cpu_wall:.2f}) but releases the GIL "
                    f"({kept}); {sure}")


def _native_parallel(measured: Measure, cores: int, options: Options) -> Decision:
    """Work already parallel in native code (BLAS, OpenMP), the GIL free: threads, each with
    a share of the cores for its native threads (``backends/_native.py``), so that together
    they use the cores once; no more threads than the caller's one where its native threads
    would keep every core (``native_threads="keep"``, one core). Work that holds the GIL
    goes to processes before this, each worker limited the same way."""
    busy = (f"already parallel in native code: its native threads (BLAS, OpenMP) kept "
            f"{measured.native_cores:.1f} cores busy")
    if cores < 2 or options.native_threads == "keep":
        why = "one usable core" if cores < 2 else "native_threads='keep'"
        return Decision("threads", options.workers or 1, f"{busy}; {why}: one thread, as "
                        f"in the caller's, its native threads on every core; "
                        f"{measured.certainty()}", figures={NATIVE_PARALLEL: 1.0})
    workers = options.workers or cores
    native = options.native_threads or max(1, cores // workers)
    return Decision("threads", workers, f"{busy}, and it releases the GIL "
                    f"({measured.gil_words()}): threads × {workers}, each with {native} "
                    f"native thread(s), so that they do not fight over the {cores} cores; "
                    f"{measured.certainty()}", figures={NATIVE_PARALLEL: 1.0})


def _io_bound(measured: Measure, cores: int, options: Options, remaining: int | None
              ) -> Decision:
    """Mostly waiting: threads enough to keep the cores busy while the others wait (Little's
    law, ``_iosize``), resized as the batch runs (``_steer``) up to the cap."""
    cap = thread_cap() if remaining is None else max(1, min(thread_cap(), remaining))
    start = cap if remaining is not None else min(cap, UNSIZED_START)
    workers = options.workers or io_threads(measured.demand, cores, remaining, start)
    return Decision("threads", workers,
                    f"I/O-bound (waiting {measured.io:.0%} of the time, cpu/wall "
                    f"{measured.cpu_wall:.2f}): threads cover the wait; {measured.certainty()}",
                    grows_to=0 if options.workers else cap)


def _unpicklable(fn: Callable, item: Any, options: Options) -> str:
    """What cannot go to a worker process, pickled exactly as the processes backend sends it
    (by reference where that works, by value for ``__main__``); "" if everything can."""
    from gilwise._pickling import dumps_to_worker

    init = (options.initializer, options.initargs)
    for what, obj in (("the function", fn), ("an item", item), ("the initializer", init)):
        try:
            dumps_to_worker(obj, [], 1)  # big buffers only listed, not copied
        except Exception as exc:
            return f"{what} ({type(exc).__name__}: {exc})"
    return ""


def explain(fn: Callable[[Any], Any], items: Iterable[Any], **options: Any) -> Decision:
    """What ``mode="auto"`` would choose for ``fn`` over ``items``, and why. With
    ``mode="dask"``: the cluster it would run on, its workers and threads (runs no item).

    It runs ``fn`` on the first items (with the ``initializer``, if given) and drops their
    results. ``items`` must be a collection (a list, a range...), which it only reads: an
    iterator or generator is refused (TypeError), since taking items from it would take them
    from the caller too; pass a sample instead, e.g. ``list(itertools.islice(items, 20))``.
    """
    if iter(items) is items:  # type: ignore[comparison-overlap]
        raise TypeError(
            f"explain(fn, items): items is an iterator ({type(items).__name__}), and explain "
            "would consume the items it runs; pass a list of sample items instead, e.g. "
            "list(itertools.islice(items, 20))"
        )
    opts = check_options(Options(**options))
    if opts.mode == "auto" and is_async(fn):  # no probe: its awaits go on one loop
        return Decision("threads", opts.workers or 1, auto_reason(opts.concurrency))
    described = describe(opts)  # a mode that says what it is without running an item
    if described is not None:
        return described
    trial = probe(fn, items, opts)
    if trial.pending is not None:
        trial.pending.join()
    return trial.decision
