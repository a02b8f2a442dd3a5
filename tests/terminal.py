"""A command run on a real pseudo-terminal, and what a person would then see on it: the
bytes written are played on a small terminal model (cursor moves, line erases, wrapping)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

COLUMNS = 160
_CSI = re.compile(r"\x1b\[([?0-9;]*)([A-Za-z])")
_OSC = re.compile(r"\x1b\][^\x07\x1b]*(\x07|\x1b\\)")


def run_on_terminal(args: list[str], cwd: Path, timeout: float = 120,
                    env: dict[str, str] | None = None,
                    stdout: Path | None = None) -> tuple[int, str]:
    """Run ``args`` with stdin, stdout and stderr on one new pseudo-terminal (stdout in the
    file ``stdout`` if given; ``env`` added to this environment); returns the exit code and
    everything written to the terminal."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, COLUMNS, 0, 0))
    env = {**os.environ, **(env or {}), "COLUMNS": str(COLUMNS), "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    with open(stdout, "w") if stdout else os.fdopen(os.dup(follower), "w") as out:
        job = subprocess.Popen(args, cwd=cwd, stdin=follower, stdout=out, stderr=follower,
                               env=env, close_fds=True)
    os.close(follower)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not select.select([leader], [], [], 1)[0]:
                if job.poll() is not None:
                    break
                continue
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: every writer closed its end
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(leader)
        if job.poll() is None:
            job.kill()
        job.wait()
    return job.returncode, b"".join(chunks).decode("utf-8", "replace")


def screen(output: str, columns: int = COLUMNS) -> list[str]:
    """The lines ``output`` leaves on a terminal ``columns`` wide (scrolled-off ones kept),
    trailing blanks dropped."""
    lines: list[list[str]] = [[]]
    row = col = 0
    i = 0
    while i < len(output):
        ch = output[i]
        if ch == "\x1b":
            osc = _OSC.match(output, i)
            if osc:
                i = osc.end()
                continue
            csi = _CSI.match(output, i)
            assert csi, f"an escape sequence this model does not know: {output[i:i + 10]!r}"
            i = csi.end()
            params, op = csi.groups()
            n = int(params) if params.isdigit() else (0 if op in "JK" else 1)
            if op == "A":
                row = max(0, row - n)
            elif op == "B":
                row += n
            elif op == "C":
                col += n
            elif op == "D":
                col = max(0, col - n)
            elif op == "G":
                col = n - 1
            elif op == "K":
                line = lines[row]
                if n == 0:
                    del line[col:]
                elif n == 1:
                    line[:col] = [" "] * min(col, len(line))
                else:
                    line.clear()
            elif op not in "mhlJ":
                raise AssertionError(f"an escape sequence this model does not know: {op!r}")
            while len(lines) <= row:
                lines.append([])
            continue
        i += 1
        if ch == "\r":
            col = 0
        elif ch == "\n":
            row += 1
        elif ch == "\b":
            col = max(0, col - 1)
        elif ch == "\x07":
            pass
        else:
            if col >= columns:  # the terminal wraps
                row, col = row + 1, 0
            while len(lines) <= row:
                lines.append([])
            line = lines[row]
            line.extend(" " * (col - len(line)))
            if col < len(line):
                line[col] = ch
            else:
                line.append(ch)
            col += 1
        while len(lines) <= row:
            lines.append([])
    return ["".join(line).rstrip() for line in lines]
