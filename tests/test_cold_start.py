"""``import gilwise`` loads only what a run needs: what one kind of run alone uses (cloudpickle
for ``__main__`` functions sent to processes, hashing for a journal, the interpreters backend)
is imported where it is first used."""

from __future__ import annotations

import subprocess
import sys

import pytest

LAZY = ("cloudpickle", "hashlib", "logging", "rich", "gilwise._identity",
        "gilwise.backends.interpreters", "gilwise.backends.processes",
        "gilwise.backends._process_worker", "threadpoolctl")


def loaded_after(code: str) -> set[str]:
    check = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_gilwise_leaves_what_a_run_may_not_need_unloaded():
    assert not set(LAZY) & loaded_after("import gilwise")


def test_a_small_run_in_threads_loads_none_of_it_either():
    run = "import gilwise\nassert list(gilwise.map(abs, [-1])) == [1]"
    assert not set(LAZY) & loaded_after(run)


# dataclasses imports inspect (with ast and dis): 8 ms of a one-item map's 50 ms cold start
NOT_ON_A_RUNS_PATH = {"dataclasses", "inspect"}
RUNS = {
    "a one-item auto map": "assert list(gilwise.map(abs, [-1])) == [1]",
    "an auto batch the watch and steer follow": (
        "import time\n"
        "assert len(list(gilwise.map(time.sleep, [0.01] * 300))) == 300\n"
        "assert {'gilwise.auto.watch', 'gilwise.auto.steer'} <= set(sys.modules)"
    ),
    "a map in processes": "assert list(gilwise.map(abs, [-1, 2], mode='processes')) == [1, 2]",
}


@pytest.mark.parametrize("run", RUNS.values(), ids=RUNS.keys())
def test_a_run_does_not_load_dataclasses_or_inspect(run):
    # ...unless the standard library's own modules that a run needs load them (on 3.14,
    # traceback imports _colorize, which imports dataclasses): ProcessPoolExecutor pays it too
    stdlib = loaded_after("import pickle, queue, threading, traceback")
    assert not (NOT_ON_A_RUNS_PATH - stdlib) & loaded_after(f"import gilwise\n{run}")


# Who imports them, even where the standard library loads them anyway (3.14): a gilwise module
# that loads one, or keeps one in its namespace
IMPORTERS = """
import sys, types
wanted, importers = set(sys.argv[1:]), []

class Who:
    def find_spec(self, name, path=None, target=None):
        if name in wanted:
            frame = sys._getframe(1)
            while frame.f_globals.get("__name__", "").startswith(("importlib", "_frozen")):
                frame = frame.f_back
            importers.append(frame.f_globals.get("__name__", "?") + " loads " + name)

sys.meta_path.insert(0, Who())
import gilwise
{run}
for name, module in list(sys.modules.items()):
    if name.startswith("gilwise"):
        importers += [f"{{name}} keeps {{value.__name__}}" for value in vars(module).values()
                      if isinstance(value, types.ModuleType) and value.__name__ in wanted]
print("\\n".join(line for line in importers if line.startswith("gilwise")))
"""


@pytest.mark.parametrize("run", RUNS.values(), ids=RUNS.keys())
def test_no_gilwise_module_on_a_runs_path_imports_dataclasses_or_inspect(run):
    out = subprocess.run([sys.executable, "-c", IMPORTERS.format(run=run),
                          *sorted(NOT_ON_A_RUNS_PATH)],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
