"""mode="interpreters": sub-interpreters on Python 3.14+, and a clear error before 3.14.

What every mode does (order, errors, laziness, cleanup) is tested over every mode in
test_map.py; here is what only sub-interpreters do.

Skipped with a reason where this Python has no ``concurrent.interpreters``, unless
GILWISE_REQUIRE_INTERPRETERS=1 (``make test-interpreters``), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import platform
import re
import sys
import threading
import time

import pytest

import _work
import gilwise

REQUIRED = os.environ.get("GILWISE_REQUIRE_INTERPRETERS") == "1"
WHY = (
    "mode='interpreters' needs Python 3.14+ with concurrent.interpreters (this is "
    f"{platform.python_version()})"
)


def _have_interpreters() -> bool:
    if sys.version_info < (3, 14):
        return False
    try:
        import concurrent.interpreters  # noqa: F401
    except ImportError:
        return False
    return True


HAVE = _have_interpreters()


@pytest.fixture
def interpreters():
    """Every test that needs sub-interpreters takes this: a skip, or a failure if required."""
    if not HAVE:
        if REQUIRED:
            pytest.fail(f"GILWISE_REQUIRE_INTERPRETERS=1 but {WHY}")
        pytest.skip(WHY)


@pytest.mark.skipif(sys.version_info >= (3, 14), reason="this Python has interpreters")
def test_before_314_asking_for_interpreters_says_which_python_is_needed():
    expected = f"mode='interpreters' needs Python 3.14+ (this is {platform.python_version()})"
    with pytest.raises(RuntimeError, match=re.escape(expected)) as caught:
        list(gilwise.map(_work.square, range(3), mode="interpreters"))
    assert isinstance(caught.value, gilwise.GilwiseError)


def test_initializer_runs_once_in_each_interpreter_and_state_stays_there(interpreters):
    _work.TAG, _work.INIT_CALLS = None, 0  # an auto map in this process may have run it here
    out = list(gilwise.map(_work.read_state, range(40), mode="interpreters", workers=2,
                           chunksize=1, initializer=_work.remember, initargs=("ready",)))
    assert {tag for tag, _, _ in out} == {"ready"}
    assert {calls for _, calls, _ in out} == {1}  # once per interpreter, not per task
    ids = {interp for _, _, interp in out}
    from concurrent import interpreters as subinterpreters

    main = subinterpreters.get_main().id
    assert main not in ids and 1 <= len(ids) <= 2
    assert _work.TAG is None and _work.INIT_CALLS == 0  # the parent's copy is untouched


def test_a_function_that_cannot_be_pickled_is_a_payload_error(interpreters):
    lock = threading.Lock()
    with pytest.raises(gilwise.PayloadError):
        list(gilwise.map(lambda x: (lock, x), range(3), mode="interpreters", workers=1))


def test_an_item_that_cannot_be_pickled_fails_alone(interpreters):
    items = [1, threading.Lock(), 3]
    out = list(gilwise.map(_work.square, items, mode="interpreters", workers=1,
                           on_error="return"))
    assert isinstance(out[1], gilwise.Failure) and out[1].exc_type == "PayloadError"
    assert [out[0], out[2]] == [1, 9]


def test_a_function_whose_module_cannot_load_there_fails_every_item_with_why(interpreters):
    try:
        import _testsinglephase  # noqa: F401 - a module that cannot load in a sub-interpreter
    except ImportError:
        why = "this CPython has no test extensions (_testsinglephase)"
        if REQUIRED:  # make test-interpreters' CPython is built with them
            pytest.fail(f"GILWISE_REQUIRE_INTERPRETERS=1 but {why}")
        pytest.skip(why)
    import _work_single_phase

    out = list(gilwise.map(_work_single_phase.double, range(3), mode="interpreters",
                           workers=1, on_error="return"))
    assert all(isinstance(f, gilwise.Failure) and f.exc_type == "PayloadError" for f in out)
    assert "could not be loaded in a sub-interpreter" in out[0].message
    assert "subinterpreters" in out[0].message  # CPython's own reason, passed on


def test_no_interpreter_is_left_behind(interpreters):
    from concurrent import interpreters as subinterpreters

    before = len(subinterpreters.list_all())
    assert list(gilwise.map(_work.square, range(50), mode="interpreters", workers=2)) == [
        x * x for x in range(50)
    ]
    results = gilwise.map(_work.square, range(1000), mode="interpreters", workers=2)
    assert next(results) == 0
    results.close()  # stopping early closes the pool without waiting for it
    deadline = time.monotonic() + 3.0
    while len(subinterpreters.list_all()) > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(subinterpreters.list_all()) == before


def test_a_task_past_its_timeout_fails_alone_and_the_batch_goes_on(interpreters):
    delays = [0.0, 1.5, 0.0, 0.0]
    out = list(gilwise.map(_work.sleep_then_return, delays, mode="interpreters", workers=2,
                           chunksize=1, timeout=0.4, on_error="return"))
    assert isinstance(out[1], gilwise.Failure) and out[1].exc_type == "TaskTimeout"
    assert [out[0], out[2], out[3]] == [0.0, 0.0, 0.0]


def test_a_pool_keeps_its_interpreters_across_maps(interpreters):
    with gilwise.Pool(mode="interpreters", workers=2) as pool:
        first = {i for _, _, i in pool.map(_work.read_state, range(10), chunksize=1)}
        assert list(pool.map(_work.square, range(5))) == [0, 1, 4, 9, 16]
        second = {i for _, _, i in pool.map(_work.read_state, range(10), chunksize=1)}
    assert len(first | second) <= 2  # the same interpreters served every map


def test_pure_python_work_runs_in_parallel(interpreters):
    parallel, figures = _work.blocked_verdict("interpreters")  # holds on a busy machine too
    if parallel is None:  # no scheduler figures per thread: timed, less sure
        parallel, figures = _work.parallel_verdict("interpreters")
    if parallel is None:
        pytest.skip(f"no scheduler figures, and the machine is too busy to time parallelism "
                    f"({figures})")
    assert parallel, f"2 interpreters do not run in parallel ({figures})"
