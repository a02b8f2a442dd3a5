"""``import gilwise`` loads only what a run needs: what one kind of run alone uses (cloudpickle
for ``__main__`` functions sent to processes, hashing for a journal, the interpreters backend)
is imported where it is first used."""

from __future__ import annotations

import subprocess
import sys

LAZY = ("cloudpickle", "hashlib", "logging", "rich", "gilwise._identity",
        "gilwise.backends.interpreters", "gilwise.backends.processes")


def loaded_after(code: str) -> set[str]:
    check = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_gilwise_leaves_what_a_run_may_not_need_unloaded():
    assert not set(LAZY) & loaded_after("import gilwise")


def test_a_small_run_in_threads_loads_none_of_it_either():
    run = "import gilwise\nassert list(gilwise.map(abs, [-1])) == [1]"
    assert not set(LAZY) & loaded_after(run)
