"""The audit journal's background work, for `make run` and operators.

    python -m devtools.audit_jobs checkpoint          # sign every chain's head now (the hourly schedule)
    python -m devtools.audit_jobs worm                 # copy the new links to the WORM bucket now
    python -m devtools.audit_jobs review               # review the new links (alerts) now
    python -m devtools.audit_jobs loop --checkpoint-every 60 --poll-every 1

`loop` is what `make run` starts: the checkpoint schedule every `--checkpoint-every` seconds, and
the audit table's stream fed to the Chalice stream handler (`audit_to_worm`) the way Lambda's
event source mapping would (devtools/streams.py; its position kept in --state-file), and to its
second consumer, the journal's automatic review (`review_access`, its position kept beside it in
`audit-review-stream.json`), until SIGTERM/SIGINT. Settings come from the environment, as for the app.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chalicelib.config import get_settings
from chalicelib.jobs import checkpoint_audit
from chalicelib.observability import logger
from devtools.streams import StreamPoller, streams_client

# The review's stream position, kept beside the WORM copy's (each consumer has its own, as each
# event source mapping does).
REVIEW_STATE_FILE = "audit-review-stream.json"


def audit_stream_poller(state_file: Path | None = None, handler: str = "audit_to_worm") -> StreamPoller:
    """The audit table's stream, fed to one of app.py's handlers on it (`audit_to_worm`, `review_access`)."""
    import boto3

    from app import app

    settings = get_settings()
    session = boto3.Session(region_name=settings.region)
    dynamodb = session.client("dynamodb", endpoint_url=settings.aws_endpoint_url)
    return StreamPoller(
        dynamodb,
        streams_client(session, settings.aws_endpoint_url),
        settings.audit_table,
        app.handler_map[handler],  # the Chalice handler, its middleware included
        batch_size=100,
        state_file=state_file,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the audit journal's background work")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("checkpoint", help="sign every chain's head now")
    commands.add_parser("worm", help="copy the new links to the WORM bucket now")
    commands.add_parser("review", help="review the new links (the journal's alerts) now")
    loop = commands.add_parser("loop", help="checkpoints and the WORM copy until SIGTERM/SIGINT")
    loop.add_argument("--checkpoint-every", type=float, default=60.0)
    loop.add_argument("--poll-every", type=float, default=1.0)
    loop.add_argument("--state-file", type=Path, default=None, help="where the stream position is kept")
    args = parser.parse_args(argv)

    if args.command == "checkpoint":
        print(json.dumps(checkpoint_audit()), flush=True)
        return 0
    if args.command == "worm":
        print(json.dumps({"copied": audit_stream_poller().poll_once()}), flush=True)
        return 0
    if args.command == "review":
        print(json.dumps({"reviewed": audit_stream_poller(handler="review_access").poll_once()}), flush=True)
        return 0

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    poller = audit_stream_poller(args.state_file)
    review_state = args.state_file.with_name(REVIEW_STATE_FILE) if args.state_file else None
    reviewer = audit_stream_poller(review_state, handler="review_access")

    def failed(what: str) -> Any:
        def log(exc: Exception) -> None:  # keep the local loop alive; the error names a type only
            logger.error(f"audit {what} failed", extra={"error": type(exc).__name__})

        return log

    def checkpoints() -> None:
        while not stop.is_set():
            try:
                checkpoint_audit()
            except Exception as exc:
                failed("checkpoint")(exc)
            stop.wait(args.checkpoint_every)

    signer = threading.Thread(target=checkpoints, name="audit-checkpoints", daemon=True)
    signer.start()
    review = threading.Thread(
        target=reviewer.run,
        args=(stop,),
        kwargs={"every": args.poll_every, "on_error": failed("review")},
        name="audit-review",
        daemon=True,
    )
    review.start()
    poller.run(stop, every=args.poll_every, on_error=failed("WORM copy"))
    signer.join(timeout=5)
    review.join(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
