"""Operator command for the SI-DEP export.

    python -m devtools.export run               # one export run now
    python -m devtools.export redrive           # dead letters back to ready
    python -m devtools.export loop --every 10   # `make run`: a run every 10 s until SIGTERM/SIGINT

Settings come from the environment (chalicelib.config): SIDEP_URL, SIDEP_CA_FILE,
SIDEP_CLIENT_CERT_FILE, SIDEP_CLIENT_KEY_FILE, SIDEP_BATCH_SIZE, SIDEP_TIMEOUT_SECONDS,
EXPORT_TIME_BUDGET_SECONDS, EXPORT_MAX_ATTEMPTS, and the AWS ones.

The wiring lives in chalicelib/bootstrap.py (`build_exporter`) and the scheduled body in
chalicelib/jobs.py (`scheduled_export`), which the Chalice schedule calls too.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import asdict

from chalicelib.bootstrap import build_exporter
from chalicelib.config import get_settings
from chalicelib.jobs import redrive, scheduled_export
from chalicelib.observability import logger, metrics

__all__ = ["main", "scheduled_export"]


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
