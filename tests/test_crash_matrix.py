"""Where a task can go wrong x how, in each mode where that can happen (after loky's matrix).

Where: pickling the argument in the parent, unpickling it in the worker, running the task,
pickling the result in the worker, unpickling the result in the parent. How: an exception, an
exception that cannot be rebuilt from its pickle, ``os._exit``, a segfault (see ``_crash``).

Each cell runs 50 items with one culprit: the batch completes, the 49 others are right, and
the culprit fails with the error the user must see. Cells that cannot be survived are absent:
an exit or segfault in the parent ends the caller's own process, and in threads or
interpreters any exit or segfault does (threads also pickle nothing, so only the running row
applies to them).
"""

from __future__ import annotations

import os
import pickle

import pytest

import gilwise
from _crash import BAD, COUNT, HOWS, IN_THE_PARENT, STEPS, HttpError, items, task
from _workers import wait_for_no_workers
from gilwise.backends.interpreters import InterpretersUnavailable, check_available

FATAL = ("exit", "segfault")
DOING = {
    "pickle_arg": "the argument could not be pickled",
    "unpickle_arg": "an argument could not be unpickled",
    "pickle_result": "the result could not be pickled",
    "unpickle_result": "the result could not be unpickled",
}


def applies(mode: str, step: str, how: str) -> bool:
    if mode == "processes":
        return not (step in IN_THE_PARENT and how in FATAL)
    if mode == "threads":
        return step == "run" and how not in FATAL
    return how not in FATAL  # interpreters


def expected(step: str, how: str) -> tuple[str, list[str]]:
    """The culprit's Failure: its exc_type, and words its message must hold."""
    if how == "exit":
        return "WorkerDied", ["exited with code 3"]
    if how == "segfault":
        return "WorkerDied", ["killed by SIGSEGV"]
    raised = "bad item" if how == "error" else "404: not found"
    if step == "run":
        return ("ValueError" if how == "error" else "HttpError"), [raised]
    return "PayloadError", [DOING[step], raised]


CELLS = [
    pytest.param(mode, step, how, id=f"{mode}-{step}-{how}")
    for mode in ("processes", "threads", "interpreters")
    for step in STEPS
    for how in HOWS
    if applies(mode, step, how)
]


@pytest.fixture
def available(request):
    """Skips an interpreters cell where this Python has none (fails it where they are
    required, as ``make test-interpreters`` does)."""
    if request.node.callspec.params["mode"] != "interpreters":
        return
    try:
        check_available()
    except InterpretersUnavailable as exc:
        if os.environ.get("GILWISE_REQUIRE_INTERPRETERS") == "1":
            pytest.fail(f"GILWISE_REQUIRE_INTERPRETERS=1 but {exc}")
        pytest.skip(str(exc))


@pytest.mark.parametrize("mode, step, how", CELLS)
def test_a_task_gone_wrong_fails_only_its_own_item(mode, step, how, available):
    with gilwise.Pool(mode=mode, workers=2) as pool:
        outcomes = list(pool.map(task, items(step, how), on_error="return", outcomes=True))

    assert len(outcomes) == COUNT
    good = [o for o in outcomes if o.index != BAD]
    assert all(o.ok for o in good), [o.failure for o in good if not o.ok]
    assert [o.value for o in good] == [i * 10 for i in range(COUNT) if i != BAD]
    failure = outcomes[BAD].failure
    assert failure is not None
    exc_type, words = expected(step, how)
    assert failure.exc_type == exc_type, failure
    for word in words:
        assert word in failure.message
    if step == "run" and how not in FATAL:
        assert "in misbehave" in failure.traceback  # the worker's traceback came along
        if how == "unrebuildable" and mode != "threads" and not rebuildable_here():
            assert "could not be rebuilt here" in failure.traceback
    if mode == "processes":
        assert wait_for_no_workers() == []


def rebuildable_here() -> bool:
    """Whether this process can rebuild the odd exception after all: importing Dask
    distributed (an earlier test's) installs tblib's pickling of exceptions, which can."""
    try:
        pickle.loads(pickle.dumps(HttpError(404, "not found")))
    except TypeError:
        return False
    return True
