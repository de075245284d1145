"""Operator command for the SI-DEP export.

    python -m operations.export run               # one export run now (make export)
    python -m operations.export redrive           # dead letters back to ready (make redrive)
    python -m operations.export retry             # end the backoff of records waiting to retry (make retry)
    python -m operations.export run --max-attempts 1
                                                # this run gives up after 1 attempt (EXPORT_MAX_ATTEMPTS=1
                                                # make export): a dead letter at the first failure
    python -m operations.export loop --every 10 [--trigger]
                                                # `make run`: the sweeper every 10 s and, with
                                                # --trigger, the stream trigger, until SIGTERM/SIGINT

Finds the service as every operator command does (operations/target.py). `run` prints one line per
batch as it finishes, then the outcome counts; on a deployed stage it invokes the stage's export
function (which alone may decrypt and holds the SI-DEP client certificate). Each local run writes
its summary to the stack's state dir, for `status`. `--json`: one document.
Exit status: 0 done; 1 done, and a batch got no answer from SI-DEP or records became dead letters
(`retry` / `redrive` them once SI-DEP is back); 2 could not run.

The wiring lives in chalicelib/bootstrap/ (`build_exporter`) and the scheduled body in
chalicelib/jobs.py (`scheduled_export`), which the Chalice schedule calls too. `--trigger` runs the
Chalice stream handler (`export_on_change`) on the records table's stream the way Lambda's event
source mapping would (devtools/streams.py), polling every second (the handler's batching window):
a result set through the API reaches SI-DEP within seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.config import env_name
from chalicelib.jobs import redrive, retry, scheduled_export
from operations import cli
from operations.target import CONTAINER_SETTINGS, Target, TargetError, invoke_deployed

if TYPE_CHECKING:
    from chalicelib.services.export import Exporter

__all__ = ["main", "scheduled_export"]

RUN_NEEDS = (*CONTAINER_SETTINGS, env_name("sidep_url"))
OUTCOMES = (
    ("acknowledged", "acknowledged"),
    ("rejected", "rejected by SI-DEP"),
    ("retried", "to retry"),
    ("failed", "dead letters"),
    ("skipped", "skipped (leased elsewhere)"),
    ("superseded", "changed in flight"),
)


def _one_run(
    target: Target, export: Exporter | None = None, max_attempts: int | None = None
) -> dict[str, Any]:
    from chalicelib.bootstrap import build_exporter

    settings = target.settings()
    if max_attempts is not None:  # the operator's EXPORT_MAX_ATTEMPTS, for this run only
        settings = replace(settings, export_max_attempts=max_attempts)
    return dict(asdict((export or build_exporter(settings)).run(None)))


def write_last_run(path: Path | None, summary: dict[str, Any]) -> None:
    """The local stand-in for the Lambda's metrics: what `status` shows as the last export run,
    and the last one that had records to send (the loop runs every few seconds, mostly idle)."""
    if path is None:
        return
    import fcntl

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    run = {"finished_at": now, "summary": summary}
    # The loop and an operator's `export run` may finish at once: one writer at a time, or an idle
    # run that read the file before a busy one wrote it would drop that busy run.
    with path.with_name(f".{path.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        previous = read_last_run(path) or {}
        busy = run if summary.get("leased") else previous.get("last_busy")
        record = {**run, "last_busy": busy, **sidep_answers(previous, summary, now)}
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record) + "\n")
        os.replace(tmp, path)


def sidep_answers(previous: dict[str, Any], summary: dict[str, Any], now: str) -> dict[str, Any]:
    """What `status` says of SI-DEP, carried from run to run: the last batch it acknowledged, the
    last rejection, and since when (and why) batches get no answer. A batch answered ends the
    failing spell; an idle run changes nothing."""
    from chalicelib.domain.delivery import error_category

    last_acknowledged = previous.get("last_acknowledged")
    failing = previous.get("failing")
    last_rejected = previous.get("last_rejected")
    if summary.get("rejected"):
        last_rejected = {"at": now, "records": summary["rejected"]}
    if summary.get("last_answered_batch"):
        failing = None
        if summary.get("acknowledged"):
            last_acknowledged = {"at": now, "batch_id": summary["last_answered_batch"]}
    elif summary.get("batches_failed"):
        error = str(summary.get("last_error") or "")
        failing = {
            "since": (failing or {}).get("since") or now,
            "at": now,
            "error": error,
            "category": error_category(error).value,
            "retry_after_seconds": summary.get("retry_after_seconds") or None,
        }
    return {"last_acknowledged": last_acknowledged, "failing": failing, "last_rejected": last_rejected}


def read_last_run(path: Path | None) -> dict[str, Any] | None:
    if path is None or not path.is_file():
        return None
    try:
        record: dict[str, Any] = json.loads(path.read_text())
    except ValueError:
        return None
    return record


def _batch_line(fields: dict[str, Any]) -> str:
    from chalicelib.domain.delivery import error_category

    outcomes = fields.get("outcomes") or {}
    counts = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) or "nothing sent"
    if fields.get("error"):
        category = error_category(fields["error"]).value
        return (
            f"  batch NOT SENT: SI-DEP gave no answer ({category}: {fields['error']}): "
            f"{fields.get('records', 0)} record(s): {counts}"
        )
    return f"  batch {fields.get('batch_id') or '-'}: {fields.get('records', 0)} record(s): {counts}"


def run_now(args: argparse.Namespace, target: Target, out: cli.Output) -> int:
    out.line(f"export run on {target.source}")
    if target.kind == "deployed":
        if args.max_attempts is not None:
            raise TargetError("EXPORT_MAX_ATTEMPTS (--max-attempts) applies to a local run only")
        summary = invoke_deployed(target, "ExportFunctionName")
        if "fanned_out" in summary:  # the sweeper sends the shards' exporters off and returns
            out.line(f"{summary['fanned_out']} shard exporter(s) started: `status` shows their outcome")
            out.document({"target": target.source, "command": "run", **summary})
            return cli.EXIT_OK
    else:
        target.require(RUN_NEEDS)
        with cli.progress("exporting to SI-DEP") as bar:

            def batch_done(fields: dict[str, Any]) -> None:
                out.line(_batch_line(fields))
                bar.advance(int(fields.get("records", 0)), f"exporting: batch {fields.get('batch_id', '')}")

            with cli.on_log("export batch", batch_done):
                summary = _one_run(target, max_attempts=args.max_attempts)
        write_last_run(target.last_export_run, summary)
    out.line(
        f"{summary.get('batches', 0)} batch(es), {summary.get('leased', 0)} record(s) leased"
        f" in {float(summary.get('elapsed_seconds', 0.0)):.1f}s"
        + (" (stopped by the time budget)" if summary.get("stopped_by_budget") else "")
    )
    out.table(["outcome", "records"], [(label, summary.get(key, 0)) for key, label in OUTCOMES])
    out.line(f"oldest record still waiting: {cli.age(summary.get('oldest_ready_age_seconds') or None)}")
    if summary.get("batches_failed"):
        out.line(
            f"{summary['batches_failed']} batch(es) got no answer from SI-DEP ({summary.get('last_error')}): "
            "`make status` tells when it answers again, then `make retry`"
        )
    if summary.get("failed"):
        out.line("dead letters: run `make redrive` (python -m operations.export redrive) once SI-DEP is back")
    out.document({"target": target.source, "command": "run", **summary})
    return cli.EXIT_ATTENTION if summary.get("failed") or summary.get("batches_failed") else cli.EXIT_OK


def retry_now(args: argparse.Namespace, target: Target, out: cli.Output) -> int:
    """End the backoff of every record waiting to retry: the trigger or the next sweep sends them."""
    if target.kind == "deployed":  # the redrive function, with the export's role, told to retry
        count = int(invoke_deployed(target, "RedriveFunctionName", action="retry").get("retried", 0))
    else:
        target.require(CONTAINER_SETTINGS)
        with cli.progress("ending the backoff of records waiting to retry"):
            count = retry()
    out.line(f"{count} record(s) waiting to retry are due now on {target.source} (journaled)")
    if count:
        out.line("the export sends them within seconds: `make status` shows when SI-DEP acknowledged them")
    out.document({"target": target.source, "command": "retry", "retried": count})
    return cli.EXIT_OK


def redrive_now(args: argparse.Namespace, target: Target, out: cli.Output) -> int:
    if target.kind == "deployed":  # the stage's redrive function, with the export's role
        count = int(invoke_deployed(target, "RedriveFunctionName").get("redriven", 0))
    else:
        target.require(CONTAINER_SETTINGS)
        with cli.progress("putting dead letters back in the queue"):
            count = redrive()
    out.line(f"{count} dead letter(s) back in the export queue of {target.source}")
    out.document({"target": target.source, "command": "redrive", "redriven": count})
    return cli.EXIT_OK


def loop(args: argparse.Namespace, target: Target, out: cli.Output) -> int:
    target.require(RUN_NEEDS)
    last_run = Path(args.last_run_file) if args.last_run_file else target.last_export_run
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    from chalicelib.bootstrap import build_exporter
    from chalicelib.observability import logger

    if args.trigger:
        threading.Thread(
            target=run_trigger, args=(stop, last_run), name="export-trigger", daemon=True
        ).start()
    # one exporter for the loop's life: one SI-DEP certificate directory, not one per run
    export: Exporter | None = None
    while not stop.is_set():
        try:
            export = export or build_exporter(target.settings())
            summary = _one_run(target, export)  # the configured budget; --every is the pause between runs
            write_last_run(last_run, summary)
            if summary["leased"]:
                out.line("export run: " + ", ".join(f"{k} {summary[k]}" for k in ("leased", *dict(OUTCOMES))))
        except Exception as exc:  # keep the local loop alive; the error names a type only
            logger.error("export run failed", extra={"error": type(exc).__name__})
        stop.wait(args.every)
    return cli.EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser("export", "SI-DEP export operator command", subcommands=True)
    commands = parser.add_subparsers(dest="command", required=True)
    common = [cli.common_options()]
    run = commands.add_parser("run", parents=common, help="run one export now")
    run.add_argument(
        "--max-attempts",
        type=_attempts,
        default=os.environ.get(env_name("export_max_attempts"), "").strip() or None,  # checked by `type`
        help="attempts before a record becomes a dead letter, for this run (default: $EXPORT_MAX_ATTEMPTS, "
        "else the service's)",
    )
    commands.add_parser("redrive", parents=common, help="put dead letters back in the queue")
    commands.add_parser("retry", parents=common, help="end the backoff of records waiting to retry")
    every = commands.add_parser("loop", parents=common, help="an export every N seconds until SIGTERM/SIGINT")
    every.add_argument("--every", type=float, default=10.0)
    every.add_argument("--last-run-file", help="where each run's summary goes (default: the stack's)")
    every.add_argument("--trigger", action="store_true", help="also run the stream trigger")
    return parser


def _attempts(text: str) -> int:
    """A count of attempts, at least 1 (0, a negative or a word was read as 1 before: refused)."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("a whole number of attempts, at least 1")
    return int(text)


def run_trigger(stop: threading.Event, last_run: Path | None = None) -> None:
    """The records table's stream to the trigger's Chalice handler, until `stop`. A trigger run
    that sent something is the last export run that had records to send (`status`)."""
    import boto3

    from chalicelib.api.streams import TRIGGER_BATCH_SIZE, TRIGGER_WINDOW_SECONDS, export_on_change
    from chalicelib.bootstrap import get_container
    from chalicelib.config import get_settings
    from chalicelib.observability import logger
    from devtools.streams import StreamPoller, streams_client

    settings = get_settings()
    poller = StreamPoller(
        get_container().aws.dynamodb(),
        streams_client(boto3.Session(region_name=settings.region), settings.aws_endpoint_url),
        settings.records_table,
        lambda event, context: _noting_busy_runs(export_on_change(event, context), last_run),
        batch_size=TRIGGER_BATCH_SIZE,
    )
    poller.run(
        stop,
        every=TRIGGER_WINDOW_SECONDS,
        on_error=lambda exc: logger.error("export trigger failed", extra={"error": type(exc).__name__}),
    )


def _noting_busy_runs(summary: Any, last_run: Path | None) -> Any:
    if isinstance(summary, dict) and summary.get("leased"):
        write_last_run(last_run, summary)
    return summary


COMMANDS = {"run": run_now, "redrive": redrive_now, "retry": retry_now, "loop": loop}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The loop is a daemon of `make run`: its log is .local/logs/export.log, INFO by default.
    level = logging.INFO if args.command == "loop" else logging.ERROR
    return cli.run("export", args, COMMANDS[args.command], log_level=level)


if __name__ == "__main__":
    sys.exit(main())
