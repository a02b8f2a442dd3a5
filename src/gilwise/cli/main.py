"""The ``gilwise`` command: a thin shell over the library. It parses, calls, prints."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

import gilwise
from gilwise._options import MODES
from gilwise.cli.argtypes import number
from gilwise.cli.jsonl import InputError, input_format, open_input, read_items, record
from gilwise.cli.loader import SpecError, load_callable
from gilwise.journal import JournalError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_PIPE = 141  # the reader of stdout left (`| head`): 128 + SIGPIPE, as a shell shows grep's


class UsageError(Exception):
    """A bad argument or input: one line on stderr, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line, like every other error of the command."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"gilwise: error: {message} (see {self.prog} --help)\n")


_positive_int = number(int, at_least=1)
_non_negative_int = number(int, at_least=0)
_seconds = number(float, above=0, unit="seconds")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gilwise",
        description="Run a Python function over many items in parallel: gilwise measures "
        "whether the work holds the GIL and picks threads or processes for you.",
    )
    parser.add_argument("--version", action="version", version=f"gilwise {gilwise.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    m = sub.add_parser(
        "map",
        help="apply MODULE:FUNCTION to every line of a file, writing JSONL",
        description="Apply FUNCTION to every item of INPUT in parallel and write one JSON "
        "object per item: {index, item, ok, value | error, attempts}.",
        epilog="example: gilwise map mymodule:work inputs.txt -o results.jsonl --mode processes",
    )
    m.add_argument("function", help="MODULE:FUNCTION or path/to/file.py:FUNCTION")
    m.add_argument("input", help="the items ('-' for stdin), read by extension: .jsonl and "
                   ".ndjson one JSON value per line; .json a JSON array of items (or one JSON "
                   "value per line); any other file one string per line")
    m.add_argument("-o", "--output", default="-", help="JSONL output file (default: stdout)")
    m.add_argument("--mode", default="auto", choices=MODES,
                   help="how to run (default: auto, measured)")
    m.add_argument("--scheduler", metavar="ADDRESS", help="with --mode dask: the Dask "
                   "scheduler to run on, e.g. tcp://host:8786 (default: $DASK_SCHEDULER_ADDRESS, "
                   "else a local cluster for this run)")
    m.add_argument("--workers", type=_positive_int, help="number of workers (default: cores "
                   "for CPU-bound work, more for I/O-bound)")
    m.add_argument("--chunksize", type=_positive_int, help="items per message (default: adapts)")
    m.add_argument("--unordered", action="store_true", help="write results as they complete")
    m.add_argument("--json", dest="form", action="store_const", const="jsonl",
                   help="read each line as a JSON value, whatever the extension")
    m.add_argument("--lines", dest="form", action="store_const", const="lines",
                   help="read each line as a plain string, whatever the extension")
    m.add_argument("--timeout", type=_seconds, help="seconds a task may run; past it the task "
                   "fails with TaskTimeout (processes: its worker is killed and replaced)")
    m.add_argument("--retries", type=_non_negative_int, default=0,
                   help="retry a failed item up to N more times, with exponential backoff")
    m.add_argument("--journal", metavar="FILE", help="record every finished item in this "
                   "SQLite file; run again with the same file to resume where it stopped")
    m.add_argument("--retry-failed", action="store_true",
                   help="with --journal: run again the items that failed last time")
    m.add_argument("--key-by-item", action="store_true", help="with --journal: know items by "
                   "their value, not their line number (for inputs whose order changes)")
    m.add_argument("--max-tasks-per-child", type=_positive_int, metavar="N",
                   help="replace a worker after N items (processes, interpreters)")
    m.add_argument("--max-memory-per-child", metavar="SIZE", help="replace a worker whose "
                   "private memory is over SIZE (e.g. 500MB) after an item; one growing past "
                   "twice SIZE during an item is killed, failing that item (processes)")
    m.add_argument("--stats", action="store_true", help="print a summary at the end: "
                   "throughput, slowest items, failures by type, worker utilisation")
    m.add_argument("--fail-fast", action="store_true",
                   help="stop at the first failed item (exit 1) instead of recording it")
    m.add_argument("--explain", action="store_true",
                   help="print why auto mode chose what it chose (on stderr)")
    m.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")

    d = sub.add_parser("demo", help="see the GIL at work on this machine: a short tour")
    d.add_argument("--items", type=_positive_int, default=48, help="CPU-bound tasks to run")
    d.add_argument("--out", default="lab-out", help="folder for the lab's chart and data "
                   "(default: ./lab-out)")
    d.add_argument("--no-lab", action="store_true", help="skip the quick GIL lab")

    lab = sub.add_parser(
        "lab",
        help="measure what the GIL does on this machine (table, PNG chart, JSON)",
        description="Five experiments, each testing a claim about the GIL on this machine: "
        "reference counts, pure-Python CPU work, I/O waits, GIL-releasing C code (hashlib) and "
        "the cost of a process. Writes gil-lab.png and gil-lab.json.",
    )
    lab.add_argument("--out", default=".", help="folder for gil-lab.png and gil-lab.json "
                     "(default: the current folder)")
    lab.add_argument("--quick", action="store_true", help="smaller sizes: under 30 s")
    lab.add_argument("--python", action="append", metavar="PATH", help="run the CPU-bound "
                     "experiment under this interpreter too (repeat for several), side by side: "
                     "GIL builds, sub-interpreters (3.14+), free-threaded builds")
    lab.add_argument("--all-pythons", action="store_true", help="the same under every "
                     "interpreter found: the project's installs (PY314_PREFIX, PY313T_PREFIX) "
                     "and python3.X / python3.Xt on PATH")
    lab.add_argument("--json", action="store_true", help="with --python/--all-pythons: print "
                     "the JSON on stdout (the table goes to stderr)")
    from gilwise.cli.encode import add_parser as add_encode_parser

    add_encode_parser(sub)
    from gilwise.cli.scrape import add_parser as add_scrape_parser

    add_scrape_parser(sub)
    from gilwise.cli.status import add_parser as add_status_parser

    add_status_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args, unknown = _parser().parse_known_args(argv)
    if unknown:  # named here, so that the hint points at the command's own --help
        _Parser(prog=f"gilwise {args.command}").error(
            f"unrecognized arguments: {' '.join(unknown)}"
        )
    try:
        if args.command == "map":
            return _map(args)
        if args.command == "demo":
            from gilwise.cli.demo import run_demo

            return run_demo(items=args.items, lab_out=None if args.no_lab else Path(args.out))
        if args.command in ("encode", "scrape", "status"):
            return args.run(args)
        if args.command == "lab" and (args.python or args.all_pythons):
            from gilwise.cli.lab_pythons import lab_pythons

            return lab_pythons(args.python, _folder(args.out), args.quick, args.json,
                               args.all_pythons)
        if args.command == "lab" and args.json:
            raise UsageError("--json needs --python PATH or --all-pythons (the lab of this "
                             "Python alone writes gil-lab.json)")
        if args.command == "lab":
            from rich.console import Console

            from gilwise.lab import run_lab

            run_lab(_folder(args.out), quick=args.quick, console=Console())
            return EXIT_OK
    except (UsageError, SpecError, InputError, JournalError, ValueError, TypeError,
            gilwise.InterpretersUnavailable) as exc:
        print(f"gilwise: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except gilwise.GilwiseError as exc:  # e.g. the initializer failed in every worker
        print(f"gilwise: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # another command's reader left: quietly, as for map
        _drop(sys.stdout)
        return EXIT_PIPE
    return EXIT_USAGE


def _map(args: argparse.Namespace) -> int:
    if (args.retry_failed or args.key_by_item) and not args.journal:
        raise UsageError("--retry-failed and --key-by-item need --journal FILE")
    if args.scheduler and args.mode != "dask":
        raise UsageError("--scheduler is for --mode dask")
    fn = load_callable(args.function)
    stream = open_input(args.input)
    form = args.form or input_format(args.input)
    items = read_items(stream, args.input, form)
    options: dict[str, Any] = {
        "mode": args.mode,
        "workers": args.workers,
        "ordered": not args.unordered,
        "chunksize": args.chunksize or "auto",
        "on_error": "return",  # --fail-fast stops at the first Failure (_write_outcomes)
        "progress": args.progress,
        "outcomes": True,
        "timeout": args.timeout,
        "retries": args.retries,
        "journal": args.journal,
        "retry_failed": args.retry_failed,
        "key": _item_key if args.key_by_item else None,
        "stats": args.stats,
        "scheduler": args.scheduler,
        "max_tasks_per_child": args.max_tasks_per_child,
        "max_memory_per_child": args.max_memory_per_child,
    }
    with _output(args.output) as out:
        results = gilwise.map(fn, items, **options)
        info = results.info
        try:
            _write_outcomes(results, out, args.fail_fast)
        except BrokenPipeError:  # the reader left (`| head -1`): stop quietly, as grep does
            results.close()  # the work still out cancelled; the journal keeps what finished
            _drop(out)
            return EXIT_PIPE
        except gilwise.TaskError as exc:
            print(f"gilwise: {exc.args[0]}", file=sys.stderr)
            return EXIT_FAILED
        except KeyboardInterrupt:
            resume = f"; run again with --journal {args.journal} to resume" if args.journal else ""
            print(f"gilwise: interrupted: {info.done} done, {info.failed} failed, the rest not "
                  f"run{resume}", file=sys.stderr)
            return EXIT_INTERRUPTED
        finally:
            out.flush()
            if args.explain and info.mode:  # the first choice, with its own numbers
                print(f"gilwise: {info.chosen}", file=sys.stderr)
            if (args.explain or args.stats) and info.changes:
                for change in info.changes:
                    print(f"gilwise: {change}", file=sys.stderr)
        if info.stats is not None:
            from rich.console import Console  # here: rich costs every command ~30 ms

            Console(stderr=True).print(info.stats.render(info.workers))
    if info.failed:
        print(_failed_line(info, args), file=sys.stderr)
    return EXIT_FAILED if info.failed else EXIT_OK


def _failed_line(info: gilwise.RunInfo, args: argparse.Namespace) -> str:
    """One line on stderr when items failed: how many, of how many, and where to look."""
    where = "the output" if args.output == "-" else args.output
    journal = f"; the journal {args.journal} keeps them (--retry-failed runs them again)" \
        if args.journal else ""
    return (f"gilwise: {info.failed} of {info.done + info.failed} items failed: see the lines "
            f'with "ok": false in {where}{journal}')


def _drop(stream: IO[str]) -> None:
    """Point ``stream``'s file at /dev/null once its reader has left: what is still buffered
    for it goes nowhere, and Python's flush at exit does not print a BrokenPipeError."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, stream.fileno())
    finally:
        os.close(devnull)


def _write_outcomes(results: gilwise.MapResult, out: IO[str], fail_fast: bool = False) -> None:
    """One JSON line per outcome, flushed each time the next result has to be waited for, so
    that after a ``kill -9`` the file holds every result the journal holds. (Flushing every
    line cost 0.1-0.2 s on 100,000 tiny items, a fifth of the run; this costs next to none.)

    ``info`` counts each item as it finishes, before its result is yielded: once as many
    lines are written, no result is ready and the next one is to be waited for."""
    info = results.info
    for written, outcome in enumerate(results, 1):
        if fail_fast and outcome.failure is not None:
            # whatever the task raised: the caller reports it as a failed item, in one line
            raise gilwise.TaskError(outcome.failure)
        out.write(record(outcome) + "\n")
        if written >= info.done + info.failed:
            out.flush()


def _folder(path: str) -> Path:
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{path}: exists and is not a folder")
    return folder


def _item_key(item: Any) -> Any:
    return item


@contextlib.contextmanager
def _output(path: str) -> Any:
    if path == "-":
        yield _Stdout()
        return
    try:
        handle: IO[str] = open(path, "w", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"{path}: cannot write the output ({exc.strerror})") from None
    with handle:
        yield handle


class _Stdout:
    """``sys.stdout`` as it is at each flush: while a progress bar shows on the same terminal,
    rich's stand-in, which prints the lines above the bar instead of onto it. Lines are held
    until the flush (or 1,000 of them), so that the bar is drawn again once per flush, not once
    a line (20,000 lines: 14 s, against 0.5 s without a bar)."""

    def __init__(self) -> None:
        self._held: list[str] = []

    def write(self, text: str) -> int:
        self._held.append(text)
        if len(self._held) >= 1000:
            self._write()
        return len(text)

    def _write(self) -> None:
        held, self._held = "".join(self._held), []
        sys.stdout.write(held)

    def flush(self) -> None:
        self._write()
        sys.stdout.flush()

    def fileno(self) -> int:
        return sys.stdout.fileno()


if __name__ == "__main__":
    sys.exit(main())
