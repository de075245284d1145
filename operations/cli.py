"""What every operator command shares: finding the service, output for people or `--json`,
logs on stderr, no metrics, progress on a terminal, and the exit codes.

- stdout carries the result only: a short summary for people, or with `--json` one JSON document;
- stderr carries the rest: one line when the command cannot run, progress when stderr is a
  terminal (with `-v` elsewhere too: one line a step), the service's log lines with `-v` (INFO)
  or `-vv` (DEBUG); errors only otherwise;
- a closed stdout (`make status | head`) ends the output quietly: the command still finishes and
  exits with its own code;
- a local stack's stack.json left behind by a stack that was stopped or killed is named as such.
- command-line runs never emit metrics (Powertools would print its EMF blob on stdout; the
  Lambda's metrics are the ones the dashboard and alarms read).

Exit codes are the same for every command (`EXIT_CODES`; each command's --help lists them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

from operations.target import Target, TargetError, find

EXIT_OK = 0  # done, and nothing needs an operator
EXIT_ATTENTION = 1  # done, and it found something that needs an operator (a broken chain, dead letters...)
EXIT_CANNOT_RUN = 2  # could not run: no service found, a setting missing, AWS unreachable, bad arguments
EXIT_CODES = {
    EXIT_OK: "done, nothing needs attention",
    EXIT_ATTENTION: "done, and something needs attention (named in the output)",
    EXIT_CANNOT_RUN: "could not run (one line on stderr says why and how to fix it)",
}

METRICS_OFF = "POWERTOOLS_METRICS_DISABLED"  # read by Powertools when it flushes

Command = Callable[[argparse.Namespace, Target, "Output"], int]


def common_options() -> argparse.ArgumentParser:
    """Options every command takes (a parent parser, so that subcommands take them too)."""
    common = argparse.ArgumentParser(add_help=False)
    where = common.add_argument_group("which service (default: the environment, else .local/stack.json)")
    where.add_argument("--stack", metavar="FILE", help="a local stack's stack.json")
    where.add_argument(
        "--stage", metavar="NAME", help="a deployed stage (CloudFormation stack depistage-NAME)"
    )
    where.add_argument("--region", help="the deployed stage's region (default: $AWS_REGION, else eu-west-3)")
    out = common.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="one JSON document on stdout instead of the summary")
    out.add_argument("-v", "--verbose", action="count", default=0, help="log lines on stderr (-vv: debug)")
    return common


def parser(prog: str, description: str, *, subcommands: bool = False) -> argparse.ArgumentParser:
    """A command's parser; with subcommands, each subcommand takes the common options instead
    (argparse would let a subcommand's defaults overwrite what was given before it)."""
    epilog = "exit codes:\n" + "".join(f"  {code}  {text}\n" for code, text in EXIT_CODES.items())
    return argparse.ArgumentParser(
        prog=prog,
        description=description,
        parents=[] if subcommands else [common_options()],
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


@contextlib.contextmanager
def quiet_runtime(verbose: int, default_level: int = logging.ERROR) -> Iterator[None]:
    """Logs to stderr (errors only unless -v), and no metrics from this process; restored after
    (a command run in-process, as in tests, leaves the service's logging as it was)."""
    from chalicelib.observability import logger

    handler = logger.registered_handler
    saved = (
        os.environ.get(METRICS_OFF),
        getattr(handler, "stream", None),
        handler.level,
        logger.log_level,
    )
    os.environ[METRICS_OFF] = "true"
    if isinstance(handler, logging.StreamHandler):
        handler.stream = sys.stderr  # not setStream: it would flush the old stream, maybe closed
    level = {0: default_level, 1: logging.INFO}.get(verbose, logging.DEBUG)
    handler.setLevel(level)
    # The logger itself passes INFO on, so that `on_log` can follow a run's progress quietly.
    logger.setLevel(min(level, logging.INFO))
    try:
        yield
    finally:
        metrics_off, stream, handler_level, logger_level = saved
        if metrics_off is None:
            os.environ.pop(METRICS_OFF, None)
        else:
            os.environ[METRICS_OFF] = metrics_off
        if isinstance(handler, logging.StreamHandler):
            handler.stream = stream
        handler.setLevel(handler_level)
        logger.setLevel(logger_level)


@contextlib.contextmanager
def on_log(message: str, callback: Callable[[dict[str, Any]], None]) -> Iterator[None]:
    """Call `callback(fields)` for each service log line `message` (e.g. each export batch), so
    that a command streams what a service does without the service knowing about the command."""
    from chalicelib.observability import SERVICE

    class Listener(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == message:
                callback(dict(record.__dict__))

    listener = Listener(logging.INFO)
    target = logging.getLogger(SERVICE)
    target.addHandler(listener)
    try:
        yield
    finally:
        target.removeHandler(listener)


class Output:
    """The command's result on stdout: lines and tables for people, or one JSON document. Once the
    reader is gone (a closed pipe), the rest is dropped quietly."""

    def __init__(self, as_json: bool, stream: TextIO | None = None) -> None:
        self.as_json = as_json
        self.stream = stream or sys.stdout
        self.closed = False

    def _write(self, text: str) -> None:
        if self.closed:
            return
        try:
            print(text, file=self.stream, flush=True)
        except BrokenPipeError:
            self.closed = True
            _silence(self.stream)

    def line(self, text: str = "") -> None:
        if not self.as_json:
            self._write(text)

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]], indent: int = 2) -> None:
        """Plain aligned columns (grep- and copy-friendly; numbers right-aligned)."""
        if self.as_json:
            return
        cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in row] for row in rows]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
        body = cells[1:]
        # The first column names the row; a column of numbers (or "-") aligns right.
        numeric = [
            i > 0 and bool(body) and all(_is_number(row[i]) for row in body) for i in range(len(headers))
        ]
        lines = []
        for row in cells:
            text = "  ".join(
                cell.rjust(width) if right else cell.ljust(width)
                for cell, width, right in zip(row, widths, numeric, strict=True)
            )
            lines.append(" " * indent + text.rstrip())
        self._write("\n".join(lines))

    def document(self, doc: Any) -> None:
        if self.as_json:
            self._write(json.dumps(doc, indent=2, sort_keys=False, default=str))


def _silence(stream: TextIO) -> None:
    """The reader closed the pipe: point the stream's descriptor at /dev/null, so that neither a
    later write nor the interpreter's flush at exit says BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real descriptor (a test's StringIO)
        pass


def _is_number(text: str) -> bool:
    return text == "-" or text.replace(".", "", 1).removeprefix("-").isdigit()


# -v: progress as plain lines on stderr when it is not a terminal (set by `run`).
_verbose = 0


@contextlib.contextmanager
def progress(description: str, total: int | None = None, stream: TextIO | None = None) -> Iterator[Progress]:
    """A progress bar on stderr when it is a terminal; with -v, one line a step otherwise."""
    stream = stream or sys.stderr
    if not stream.isatty():
        if not _verbose:
            yield Progress()
            return
        out = stream

        def say(n: int, what: str) -> None:
            with contextlib.suppress(OSError, ValueError):
                print(f"{description}: {what}" if what else description, file=out, flush=True)

        say(0, "")
        yield Progress(say)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as RichProgress

    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    with RichProgress(*columns, TimeElapsedColumn(), console=Console(file=stream), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield Progress(lambda n, what: bar.update(task, advance=n, description=what or description))


class Progress:
    def __init__(self, update: Callable[[int, str], None] | None = None) -> None:
        self._update = update

    def advance(self, n: int = 1, what: str = "") -> None:
        if self._update is not None:
            self._update(n, what)


def say_cannot_run(prog: str, message: str) -> int:
    print(f"{prog}: {message}", file=sys.stderr, flush=True)
    return EXIT_CANNOT_RUN


def run(
    prog: str,
    args: argparse.Namespace,
    command: Command,
    *,
    out: TextIO | None = None,
    log_level: int = logging.ERROR,
) -> int:
    """Find the service, run the command, and turn any failure into one line and exit 2."""
    global _verbose
    _verbose = args.verbose
    target: Target | None = None
    try:
        with quiet_runtime(args.verbose, default_level=log_level):
            target = find(args.stack, args.stage, args.region)
            target.apply()
            return command(args, target, Output(args.json, out))
    except TargetError as exc:
        return say_cannot_run(prog, str(exc))
    except KeyboardInterrupt:
        return say_cannot_run(prog, "interrupted")
    except BrokenPipeError:  # stderr's reader is gone too: nothing left to tell
        _silence(sys.stdout)
        return EXIT_CANNOT_RUN
    except Exception as exc:  # AWS down, a refusal...: no verdict rather than a false one, no traceback
        if target is not None and target.kind == "local" and not local_stack_answers(target):
            return say_cannot_run(prog, stale_stack_message(target))
        if args.verbose:
            traceback.print_exc(file=sys.stderr)
        first_line = (str(exc).splitlines() or [""])[0]
        return say_cannot_run(prog, f"could not run: {type(exc).__name__}: {first_line}".rstrip(": "))


def local_stack_answers(target: Target) -> bool:
    """Whether the local stack's AWS endpoint answers (a stack.json outlives a killed stack)."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(target.env.get("AWS_ENDPOINT_URL", ""))
    if not url.hostname or not url.port:
        return True
    try:
        with socket.create_connection((url.hostname, url.port), timeout=2.0):
            return True
    except OSError:
        return False


def stale_stack_message(target: Target) -> str:
    stack_file = target.source.removeprefix("local stack ")
    return (
        f"the local stack is not running: {stack_file} is left from a stack that was stopped or "
        "killed (its AWS endpoint does not answer); start it with make run"
    )


def age(seconds: float | None) -> str:
    """A duration for people: 45s, 12m, 3h05m, 2d04h."""
    if seconds is None:
        return "-"
    s = int(max(0.0, seconds))
    if s < 120:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"
