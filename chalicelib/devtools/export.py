"""Operator command for the SI-DEP export, and the wiring of its real collaborators.

    python -m chalicelib.devtools.export run               # one export run now
    python -m chalicelib.devtools.export redrive           # dead letters back to ready
    python -m chalicelib.devtools.export loop --every 10   # `make run`: a run every 10 s until SIGTERM/SIGINT

Settings come from the environment (chalicelib.config): SIDEP_URL, SIDEP_CA_FILE,
SIDEP_CLIENT_CERT_FILE, SIDEP_CLIENT_KEY_FILE, SIDEP_BATCH_SIZE, SIDEP_TIMEOUT_SECONDS,
EXPORT_TIME_BUDGET_SECONDS, EXPORT_MAX_ATTEMPTS, and the AWS ones.

`build_exporter` and `scheduled_export` belong in chalicelib/bootstrap.py eventually; the
Chalice schedule calls `scheduled_export(context.get_remaining_time_in_millis())`.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from chalicelib.config import Settings, get_settings
from chalicelib.observability import logger, metrics
from chalicelib.services.export import ExportSettings, ExportSummary, run_export

# Time kept back from the Lambda's remaining time: the last writes, metrics flush, shutdown.
LAMBDA_SAFETY_SECONDS = 20.0
# Parallel conditional writes per batch (each one DynamoDB round trip): keep <= the client's
# connection pool (botocore default 10).
EXPORT_WRITE_WORKERS = 8


def _transport(settings: Settings) -> Any:
    from chalicelib.adapters.sidep.transport import HttpsTransport, TransportSettings

    return HttpsTransport(
        TransportSettings(
            url=settings.sidep_url,
            ca_file=settings.sidep_ca_file,
            client_cert_file=settings.sidep_client_cert_file,
            client_key_file=settings.sidep_client_key_file,
            connect_timeout_seconds=5.0,
            read_timeout_seconds=float(settings.sidep_timeout_seconds),
        )
    )


def build_exporter(settings: Settings) -> Callable[[float | None], ExportSummary]:
    """A function running one export with the real collaborators; its argument overrides the
    time budget (seconds)."""
    from chalicelib import bootstrap
    from chalicelib.adapters.dynamodb.delivery import DynamoDbExportQueue
    from chalicelib.adapters.sidep import Hl7BatchSender
    from chalicelib.adapters.sidep.hl7 import SenderIdentity

    container = bootstrap.get_container()
    sender = Hl7BatchSender(
        _transport(settings), SenderIdentity(processing_id="P" if settings.stage == "prod" else "T")
    )

    def export(time_budget_seconds: float | None = None) -> ExportSummary:
        run_id = f"export-{uuid.uuid4().hex[:12]}"
        return run_export(
            queue=DynamoDbExportQueue(container.aws("dynamodb"), owner=run_id, workers=EXPORT_WRITE_WORKERS),
            cipher=container.records.cipher,
            sender=sender,
            journal=container.journal,
            clock=container.clock,
            settings=ExportSettings.from_settings(settings, time_budget_seconds=time_budget_seconds),
            run_id=run_id,
        )

    return export


def scheduled_export(remaining_time_ms: int) -> dict[str, Any]:
    """The Chalice scheduled function's body: one run within the Lambda's remaining time."""
    settings = get_settings()
    budget = min(
        float(settings.export_time_budget_seconds), remaining_time_ms / 1000.0 - LAMBDA_SAFETY_SECONDS
    )
    try:
        summary = build_exporter(settings)(max(0.0, budget))
    finally:
        metrics.flush_metrics()
    return asdict(summary)


def redrive() -> int:
    from chalicelib import bootstrap
    from chalicelib.adapters.dynamodb.delivery import DynamoDbExportQueue

    container = bootstrap.get_container()
    queue = DynamoDbExportQueue(container.aws("dynamodb"), owner="operator-redrive")
    count = queue.redrive(container.clock.now())
    logger.info("dead letters re-driven", extra={"count": count})
    return count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="SI-DEP export operator command")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run one export now")
    commands.add_parser("redrive", help="put dead letters back in the queue")
    loop = commands.add_parser("loop", help="run an export every N seconds until SIGTERM/SIGINT")
    loop.add_argument("--every", type=float, default=10.0)
    args = parser.parse_args(argv)
    settings = get_settings()

    if args.command == "redrive":
        print(json.dumps({"redriven": redrive()}), flush=True)
        return 0
    export = build_exporter(settings)
    if args.command == "run":
        summary = export(None)
        metrics.flush_metrics()
        print(json.dumps(asdict(summary)), flush=True)
        return 0

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.is_set():
        try:
            summary = export(None)  # the configured budget; --every is the pause between runs
            metrics.flush_metrics(raise_on_empty_metrics=False)
            if summary.leased:
                print(json.dumps(asdict(summary)), flush=True)
        except Exception as exc:  # keep the local loop alive; the error names a type only
            logger.error("export run failed", extra={"error": type(exc).__name__})
        stop.wait(args.every)
    return 0


if __name__ == "__main__":
    sys.exit(main())
