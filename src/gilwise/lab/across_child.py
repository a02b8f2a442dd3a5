"""What ``gilwise lab --python`` runs under each interpreter: the CPU-bound experiment with the
work the parent chose, printed as one JSON line. It needs the stdlib and gilwise's source only,
so a bare interpreter (no install, no third-party package) runs it.

    python -m gilwise.lab.across_child LOOPS ROUNDS
"""

from __future__ import annotations

import dataclasses
import json
import platform
import sys

MARKER = "GILWISE-LAB-ACROSS "  # the line the parent reads, whatever else gets printed


def main(argv: list[str]) -> int:
    from gilwise.lab.model import load_average
    from gilwise.lab.runners import Settings, gil_enabled, usable_cores
    from gilwise.lab.scaling import cpu_bound

    loops, rounds = int(argv[0]), int(argv[1])
    settings = dataclasses.replace(Settings.for_mode(True), cpu_rounds=rounds)
    exp = cpu_bound(settings, loops=loops)
    print(MARKER + json.dumps({
        "python": platform.python_version(),
        "free_threaded": not gil_enabled(),
        "executable": sys.executable,
        "cores": usable_cores(),
        "load_average": load_average(),
        "rows": [dataclasses.asdict(row) for row in exp.rows],
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
