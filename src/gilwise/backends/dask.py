"""``mode="dask"``: chunks run as tasks on a Dask distributed cluster (core contract only).

Dask picks the worker, reschedules a task whose worker died and finishes tasks in any order;
gilwise keeps the window, the chunking, retries with backoff, the journal and ``on_error``.
Each chunk is one task whose items go as one pickled blob and whose results come back as one
(``encode_result``): distributed serialises a plain list element by element, ~75x slower.
Tasks are submitted with ``pure=False`` and a unique key, so identical chunks never merge.

The workers must be able to import gilwise and cloudpickle (and the function's module, unless
it comes from ``__main__``, which travels by value). Dask cannot stop a running task: past
the timeout, a chunk is given up on (its late result is ignored) and its items sent alone.
A coroutine function's chunk watches its task, though: once cancelled (a batch stopped
early), its coroutines are cancelled, their ``finally`` run.
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import os
import pickle
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from gilwise._chunk import Chunk, decode_result, encode_result, run_chunk, undecodable
from gilwise._cores import usable_cores
from gilwise._coro import cancelled_when
from gilwise._options import Options
from gilwise._outcome import GilwiseError, PayloadError, WorkerInitError, describe
from gilwise._pickling import dumps_to_worker
from gilwise._result import Decision
from gilwise.backends._base import WAKE, Backend, Done, Event, Lost, drain

INSTALL_HINT = "mode='dask' needs Dask distributed: pip install 'gilwise[dask]'"
CONNECT_SECONDS = 5.0  # a scheduler that does not answer in this long is reported dead
CAPACITY_REFRESH_SECONDS = 1.0  # clusters grow and shrink: re-read their threads this often
CHUNKS_PER_THREAD = 2  # one running, one waiting on each thread: hides the round trip
#: a function (with what it captures) bigger than this goes to every worker once (scatter)
#: instead of with each task
SCATTER_ABOVE = 100_000


def check_available() -> None:
    """Raise a GilwiseError saying how to install Dask distributed when it is missing.

    Looked up, not imported: importing distributed changes how every exception class in this
    process pickles (it installs tblib's pickling support), which a mere check must not do."""
    if importlib.util.find_spec("distributed") is None:
        raise GilwiseError(INSTALL_HINT)


def check_options(options: Options) -> None:
    """The Dask options, checked before any work (the registry's ``check_options``)."""
    if options.scheduler is not None and not isinstance(options.scheduler, str):
        raise TypeError(f"scheduler={options.scheduler!r} must be an address such as "
                        "'tcp://127.0.0.1:8786'")
    if options.scheduler is not None and options.client is not None:
        raise ValueError("give scheduler= or client=, not both")


def scheduler_address(options: Options) -> str | None:
    """The scheduler asked for: ``scheduler=``, else ``DASK_SCHEDULER_ADDRESS``, else None."""
    return options.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None


def check_reachable(address: str, seconds: float = CONNECT_SECONDS) -> None:
    """Fail fast on a scheduler that does not answer: ``Client(address, timeout=)`` keeps
    retrying even on "connection refused", a TCP connect is refused in a millisecond."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme not in ("tcp", "tls"):
        return  # inproc://, ucx://...: leave it to Dask's own connect
    try:
        port = parts.port or 8786
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=seconds):
            pass
    except (OSError, ValueError) as exc:
        raise GilwiseError(
            f"the Dask scheduler at {address} does not answer: {exc}"
        ) from None


def describe_cluster(options: Options) -> Decision:
    """``explain(mode="dask")``: the cluster a batch would run on (started and closed here
    when it is a LocalCluster), its workers and threads; no item is run."""
    backend = DaskBackend(options)
    backend.start()
    try:
        threads = backend.threads()
        where = backend.client.scheduler.address
        local = " (a LocalCluster started for the batch)" if backend._cluster else ""
    finally:
        backend.close()
    workers, total = len(threads), sum(threads.values())
    return Decision("dask", total, f"dask: {workers} workers, {total} threads at {where}{local}",
                    {"dask_workers": float(workers), "dask_threads": float(total)})


# ---------------------------------------------------------------- on the worker
_loaded: dict[str, Callable[[Any], Any]] = {}  # function key -> function, per process
_loading = threading.Lock()


def _stop_dask_threads() -> None:
    """Dask keeps two executors of its own between clients (done callbacks, offloading):
    their threads would outlive the batch, and a fork after it would see them (processes
    would then start from a forkserver). Shut down, and the offloading one replaced by an
    idle one, which starts no thread until used; Dask makes a new callback one when needed."""
    from concurrent.futures import ThreadPoolExecutor

    from distributed import client, utils

    callbacks, client.Future._cb_executor = client.Future._cb_executor, None
    if callbacks is not None:
        callbacks.shutdown(wait=True)
    offload = utils._offload_executor
    utils._offload_executor = ThreadPoolExecutor(1, thread_name_prefix="Dask-Offload")
    offload.shutdown(wait=True)


def _function(key: str, blob: bytes) -> Callable[[Any], Any]:
    """The function of a map, unpickled (and its initializer run) once per worker process."""
    fn = _loaded.get(key)
    if fn is not None:
        return fn
    with _loading:
        if key not in _loaded:
            fn, initializer, initargs = pickle.loads(blob)
            if initializer is not None:
                try:
                    initializer(*initargs)
                except Exception as exc:
                    info = describe(exc)
                    raise WorkerInitError(
                        f"the initializer failed in a Dask worker: {info.exc_type}: "
                        f"{info.message}\n{info.traceback}"
                    ) from None
            if len(_loaded) > 32:
                _loaded.clear()  # one map's function at a time, in practice
            _loaded[key] = fn
        return _loaded[key]


def run_task(fn_key: str, fn_blob: bytes, chunk_id: int, items_blob: bytes,
             tracked: bool, key: str = "") -> bytes:
    """One chunk on a Dask worker (the task ``key``): the items' results (and per-item
    errors) as one blob. A coroutine function's coroutines are cancelled once the task is."""
    fn = _function(fn_key, fn_blob)
    try:
        items = pickle.loads(items_blob)
    except BaseException as exc:  # noqa: BLE001 - the engine then sends the items alone
        if isinstance(exc, KeyboardInterrupt):
            raise
        return encode_result(undecodable(chunk_id, f"the items could not be unpickled: {exc}"))
    slot = [0.0, 0.0, 0.0] if tracked else None  # timings per item; nobody reads the slot
    with cancelled_when(fn, _cancelled(key)):
        result = run_chunk(fn, chunk_id, items, tracked, slot)
    result.worker = _worker_name()
    return encode_result(result)


def _cancelled(key: str) -> Callable[[], bool]:
    """Whether task ``key`` was cancelled (``client.cancel``: a batch stopped early). Dask
    cannot stop a running task's thread, but its worker marks the task "cancelled" at once:
    read in the worker's own state, no message to the scheduler."""
    try:
        from distributed import get_worker

        tasks = get_worker().state.tasks
    except Exception:  # not on a worker (run_task called directly)
        tasks = None
    if tasks is None or not key:
        return lambda: False

    def cancelled() -> bool:
        task = tasks.get(key)
        return task is None or task.state == "cancelled"

    return cancelled


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except Exception:
        return ""


# ---------------------------------------------------------------- in the caller
class DaskBackend(Backend):
    """Chunks as tasks on a Dask cluster: one the user named (``scheduler=``, ``client=``,
    ``DASK_SCHEDULER_ADDRESS``), or a LocalCluster of one worker process per usable core
    started here and closed with the backend."""

    name = "dask"

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self.client: Any = options.client
        self._cluster: Any = None  # a LocalCluster we started
        self._own_client = False
        self._futures: dict[int, Any] = {}  # chunk id -> its future, in flight
        self._sizes: dict[int, int] = {}  # chunk id -> its number of items
        self._fn_name = "fn"
        self._finished: queue.SimpleQueue[Any] = queue.SimpleQueue()  # (chunk id, future)
        self._fns: dict[int, tuple[str, Any]] = {}  # fn id -> (key, blob or its future)
        self._fn_ids = itertools.count()
        self._capacity = CHUNKS_PER_THREAD
        self._capacity_read = 0.0
        # items of chunks whose workers kept dying, still to be sent again: they run one at a
        # time, so that the culprit kills no worker running another (Dask counts every task
        # on a worker that dies as a suspect, and fails it after allowed-failures deaths)
        self._suspects = 0
        self.peak_in_flight: int = 0  # the most futures in flight at once (tests check the window)

    # -- lifecycle
    def start(self) -> None:
        check_available()
        if self.client is None:
            self.client = self._connect()
            self._own_client = True
        self._refresh(force=True)
        self.peak_in_flight = 0

    def _connect(self) -> Any:
        from distributed import Client, LocalCluster

        address = scheduler_address(self.options)
        if address is not None:
            check_reachable(address)
            try:
                return Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise GilwiseError(f"the Dask scheduler at {address} does not answer: {exc}"
                                   ) from None
        import dask

        # Dask's statistical profiler samples each worker's stack every 10 ms, holding its
        # GIL: pure-Python work ran ~10% slower with it (64 x 25 ms: 0.95 s, 0.84 s without)
        with dask.config.set({"distributed.worker.profile.enabled": False}):
            self._cluster = LocalCluster(
                n_workers=self.options.workers or usable_cores(), threads_per_worker=1,
                processes=True, dashboard_address=":0", silence_logs=logging.ERROR,
            )
        return Client(self._cluster, set_as_default=False)

    def threads(self) -> dict[str, int]:
        """Threads per worker address, as the scheduler sees them now."""
        return dict(self.client.nthreads())

    def _refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._capacity_read < CAPACITY_REFRESH_SECONDS:
            return
        self._capacity_read = now
        total = sum(self.threads().values())
        self.size: int = max(1, total)
        # With a timeout, one chunk a thread: a timeout counts from the submission (Dask does
        # not say when a task starts), and a chunk queued behind a long one would time out
        # without having run. Else two: one waiting on each thread hides the round trip.
        per_thread = 1 if self.options.timeout is not None else CHUNKS_PER_THREAD
        self._capacity = per_thread * self.size

    def close(self, kill: bool = False) -> None:
        self.cancel(list(self._futures))
        self._release_functions()
        if self._own_client and self.client is not None:
            self.client.close(timeout=2 if kill else 10)
            self.client, self._own_client = None, False
        if self._cluster is not None:
            self._cluster.close(timeout=2 if kill else 10)
            self._cluster = None
        _stop_dask_threads()

    def describe(self) -> str:
        return f"dask×{self.size} at {self.client.scheduler.address}" if self.client else "dask"

    # -- work
    def register(self, fn: Callable[[Any], Any]) -> int:
        opts = self.options
        try:
            blob = dumps_to_worker((fn, opts.initializer, opts.initargs))
        except Exception as exc:
            raise PayloadError(f"the function {fn!r} could not be pickled: {exc}") from None
        # one map at a time runs on a backend: the last map's function can go
        self._release_functions()
        fn_id = next(self._fn_ids)
        key = f"{fn_id}-{uuid.uuid4().hex}"
        if len(blob) > SCATTER_ABOVE:
            self._fns[fn_id] = (key, self.client.scatter(blob, broadcast=True, hash=False))
        else:
            self._fns[fn_id] = (key, blob)
        self._fn_name = getattr(fn, "__name__", type(fn).__name__)
        return fn_id

    def _release_functions(self) -> None:
        for _, blob in self._fns.values():
            if not isinstance(blob, bytes):
                blob.release()
        self._fns.clear()

    def capacity(self) -> int:
        self._refresh()
        return 1 if self._suspects else self._capacity

    def submit(self, chunk: Chunk) -> None:
        try:
            items = dumps_to_worker(chunk.items)  # a __main__ class's instances by value
        except Exception as exc:
            raise PayloadError(f"the argument could not be pickled: {exc}") from None
        key = f"gilwise-{self._fn_name}-{chunk.id}-{uuid.uuid4().hex}"
        fn_key, fn_blob = self._fns[chunk.fn_id]
        future = self.client.submit(run_task, fn_key, fn_blob, chunk.id, items, chunk.tracked,
                                    key, key=key, pure=False)
        self._futures[chunk.id] = future
        self._sizes[chunk.id] = len(chunk.items)
        if self._suspects and not self._futures.keys() - {chunk.id}:  # it runs alone
            self._suspects = max(0, self._suspects - len(chunk.items))
        self.peak_in_flight = max(self.peak_in_flight, len(self._futures))
        chunk_id, finished = chunk.id, self._finished
        future.add_done_callback(lambda f: finished.put((chunk_id, f)))

    def wake(self) -> None:
        self._finished.put(WAKE)

    def poll(self, timeout: float) -> list[Event]:
        events: list[Event] = []
        ready = []
        for chunk_id, future in drain(self._finished, timeout):
            if self._futures.get(chunk_id) is not future:
                continue  # cancelled, or given up on already
            del self._futures[chunk_id]
            size = self._sizes.pop(chunk_id, 0)
            if future.status == "finished":
                ready.append((chunk_id, future))
            elif future.status == "error":
                events.append(self._failed(chunk_id, future, size))
            else:  # cancelled or lost on the cluster's side (a restart): send it again
                reason = f"the Dask task was {future.status} on the cluster"
                events.append(Lost(chunk_id, "died", reason, None))
        if ready:
            events += self._fetch(ready)
        return events

    def _fetch(self, ready: list[tuple[int, Any]]) -> list[Event]:
        """The results of finished chunks: one round trip for all of them, or, where one
        cannot be fetched (the worker holding it died and the rerun failed), one by one."""
        try:
            blobs = self.client.gather([future for _, future in ready])
            return [Done(cid, decode_result(blob, cid)) for (cid, _), blob in zip(ready, blobs)]
        except Exception:
            pass
        events: list[Event] = []
        for chunk_id, future in ready:
            try:
                events.append(Done(chunk_id, decode_result(future.result(), chunk_id)))
            except Exception as exc:
                reason = f"its result was lost on the cluster: {type(exc).__name__}: {exc}"
                events.append(Lost(chunk_id, "died", reason, None))
        return events

    def _failed(self, chunk_id: int, future: Any, size: int) -> Lost:
        """A task that raised outside ``run_chunk`` (which keeps the function's own errors as
        values): its workers kept dying (KilledWorker), or the initializer failed.

        KilledWorker comes after Dask itself re-ran the task on ``allowed-failures`` fresh
        workers: a chunk of one item is then blamed at once (position 0), a bigger one is
        split by the engine to find the culprit. Any other error from the task (the cluster
        lost it) is a lost chunk too, sent again."""
        from distributed import KilledWorker

        exc = future.exception()
        if isinstance(exc, WorkerInitError):
            self.close(kill=True)
            raise exc
        if isinstance(exc, KilledWorker):
            self._suspects += size if size > 1 else 0  # the engine sends them again, split
            reason = f"the Dask workers running it died ({exc})"
            return Lost(chunk_id, "died", reason, 0 if size == 1 else None)
        return Lost(chunk_id, "died", f"the Dask task failed: {type(exc).__name__}: {exc}", None)

    def cancel(self, chunk_ids: Iterable[int]) -> None:
        futures = []
        for chunk_id in chunk_ids:
            self._sizes.pop(chunk_id, None)
            if (future := self._futures.pop(chunk_id, None)) is not None:
                futures.append(future)
        if futures and self.client is not None:
            try:
                self.client.cancel(futures)
            except Exception:
                pass  # the client is closing: nothing left to cancel
