"""Run a command while N other processes keep cores busy: ``python tools/under_load.py N cmd...``.

The busy loops are this script's children, in their own process group: they are killed when
the command ends, fails or is interrupted, so none outlives the run. Exit status: the command's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 2 or not argv[0].isdigit():
        print("usage: under_load.py N command [args...]  (N: how many busy processes)",
              file=sys.stderr)
        return 2
    count, command = int(argv[0]), argv[1:]
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"],
                                 start_new_session=True) for _ in range(count)]
    # a SIGTERM to this script ends the command and the spinners as Ctrl-C would
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        print(f"under_load: {count} busy process(es) beside: {' '.join(command)}",
              file=sys.stderr, flush=True)
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 130
    finally:
        for spinner in spinners:
            os.killpg(spinner.pid, signal.SIGKILL)
            spinner.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
