"""Auto mode keeps to its worker count while its probe thread still runs an item."""

import threading
import time

import gilwise


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
