"""Functions and classes defined in ``__main__`` work in processes mode wherever they are
defined: ``python -c``, code piped to ``python -``, a script without a main guard, a Jupyter
notebook; with another thread alive (forkserver) or not (fork). Each case runs as a real
program, as a user would run it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from test_interpreters import interpreters  # noqa: F401  (the fixture: skip, or fail if required)

A_THREAD_ALIVE = (
    "import threading\n"
    "threading.Thread(target=threading.Event().wait, daemon=True).start()\n"
)
THREAD_OR_NOT = pytest.mark.parametrize(
    "preamble", [A_THREAD_ALIVE, ""], ids=["thread-alive", "single-thread"]
)

DOUBLE = textwrap.dedent(
    """
    import gilwise

    def work(x):
        return x * 2

    print(list(gilwise.map(work, range(12), mode="processes", workers=2)))
    """
)
DOUBLED = str([x * 2 for x in range(12)])

# the documented pattern (docs/reference/options.md): the initializer sets a global the task reads
INITIALIZER = textwrap.dedent(
    """
    import gilwise

    MODEL = None

    def load_model():
        global MODEL
        MODEL = {x: x * 10 for x in range(10)}

    def predict(x):
        return MODEL[x]

    with gilwise.Pool(mode="processes", workers=2, initializer=load_model) as pool:
        print(list(pool.map(predict, range(10))))
    """
)
PREDICTED = str([x * 10 for x in range(10)])


def run_python(*args: str, stdin: str | None = None, cwd: Path | None = None):
    """Runs this interpreter as a user would, with this environment (PYTHONPATH included)."""
    return subprocess.run(
        [sys.executable, *args], input=stdin, capture_output=True, text=True, timeout=90, cwd=cwd
    )


def assert_printed(done: subprocess.CompletedProcess, expected: str) -> None:
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [expected], done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr


@THREAD_OR_NOT
def test_function_defined_in_python_c(preamble):
    assert_printed(run_python("-c", preamble + DOUBLE), DOUBLED)


@THREAD_OR_NOT
def test_function_defined_in_code_piped_to_python(preamble):
    assert_printed(run_python("-", stdin=preamble + DOUBLE), DOUBLED)


@THREAD_OR_NOT
def test_script_without_main_guard_runs_once(preamble, tmp_path):
    script = tmp_path / "unguarded.py"
    script.write_text(preamble + DOUBLE)
    assert_printed(run_python(str(script), cwd=tmp_path), DOUBLED)


@THREAD_OR_NOT
def test_initializer_and_task_share_the_script_globals(preamble, tmp_path):
    script = tmp_path / "model.py"
    guarded = 'if __name__ == "__main__":\n' + textwrap.indent(INITIALIZER, "    ")
    script.write_text(preamble + guarded)
    assert_printed(run_python(str(script), cwd=tmp_path), PREDICTED)


@THREAD_OR_NOT
def test_initializer_and_task_share_the_globals_of_python_c(preamble):
    assert_printed(run_python("-c", preamble + INITIALIZER), PREDICTED)


@THREAD_OR_NOT
def test_a_live_pool_runs_the_latest_definitions_and_keeps_the_worker_data(preamble):
    """As in a notebook: a function redefined while the Pool lives runs as redefined, and
    what the initializer set stays, though the parent's global still holds None."""
    code = preamble + textwrap.dedent(
        """
        import gilwise

        SCALE = None

        def setup():
            global SCALE
            SCALE = 10

        def helper(x):
            return x

        def work(x):
            return helper(x) * SCALE

        with gilwise.Pool(mode="processes", workers=2, initializer=setup) as pool:
            first = list(pool.map(work, range(3)))

            def helper(x):
                return -x

            def work(x):
                return helper(x) * SCALE

            print(first, list(pool.map(work, range(3))))
        """
    )
    assert_printed(run_python("-c", code), "[0, 10, 20] [0, -10, -20]")


def test_initializer_and_task_share_the_globals_in_interpreters(interpreters):  # noqa: F811
    code = INITIALIZER.replace('mode="processes"', 'mode="interpreters"')
    assert_printed(run_python("-c", code), PREDICTED)


@THREAD_OR_NOT
def test_main_classes_travel_to_the_worker_and_back(preamble):
    code = preamble + textwrap.dedent(
        """
        import gilwise

        class Point:
            def __init__(self, x):
                self.x = x

        def double(p):
            assert isinstance(p, Point), type(p)
            return Point(p.x * 2)

        with gilwise.Pool(mode="processes", workers=2) as pool:
            out = list(pool.map(double, [Point(x) for x in range(6)]))

            class DefinedAfterTheWorkersStarted:
                pass

            later = list(pool.map(lambda x: type(DefinedAfterTheWorkersStarted()), [0]))
        print(all(type(p) is Point for p in out), [p.x for p in out],
              later == [DefinedAfterTheWorkersStarted])
        """
    )
    assert_printed(run_python("-c", code), "True [0, 2, 4, 6, 8, 10] True")


def test_notebook_cells_run_in_processes_and_auto_mode(tmp_path):
    """A real Jupyter kernel (which always has threads alive) runs the cells."""
    nbclient = pytest.importorskip(
        "nbclient", reason="nbclient is not installed (the notebook extra: gilwise[notebook])"
    )
    pytest.importorskip("ipykernel", reason="ipykernel is not installed")
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed")
    cells = [
        "import threading\nimport gilwise\nprint(threading.active_count() > 1)",
        "def square(x):\n    return x * x",
        INITIALIZER.replace("import gilwise\n", ""),
        "print(list(gilwise.map(square, range(8), mode='processes', workers=2)))",
        "def spin(n):\n"
        "    total = 0\n"
        "    for i in range(20_000):\n"
        "        total += i % (n + 1)\n"
        "    return total\n"
        "results = gilwise.map(spin, range(40), mode='auto')\n"
        "print(list(results) == [spin(n) for n in range(40)])",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = nbclient.NotebookClient(
        notebook, timeout=90, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()
    printed = [
        "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream").strip()
        for cell in notebook.cells
    ]
    assert printed == ["True", "", PREDICTED, str([x * x for x in range(8)]), "True"]


def test_script_without_main_guard_under_spawn_fails_with_one_line(tmp_path):
    """spawn imports the script in each worker: where it cannot work, one message says why."""
    script = tmp_path / "unguarded.py"
    script.write_text(DOUBLE.replace('mode="processes"', 'mode="processes", start_method="spawn"'))
    done = run_python(str(script), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.count("Traceback") == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("gilwise.WorkerInitError: a new worker imported the main")
    assert last.endswith('put its top-level code under `if __name__ == "__main__":`')


def test_code_piped_to_python_under_spawn_runs(tmp_path):
    """Code piped to ``python -`` has no script for spawn to import again in each worker
    (its ``__file__`` is "<stdin>"): the workers start as under ``python -c`` and the
    function arrives by value, where each worker died on a FileNotFoundError traceback."""
    code = DOUBLE.replace('mode="processes"', 'mode="processes", start_method="spawn"')
    assert_printed(run_python("-", stdin=code, cwd=tmp_path), DOUBLED)
