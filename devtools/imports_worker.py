"""The uploads' processing in the local stack, as Lambda's SQS event source mapping runs it in AWS.

    python -m devtools.imports_worker once     # process what the imports queue holds now
    python -m devtools.imports_worker loop     # until SIGTERM/SIGINT (what `make run` starts)

moto's bucket notifies ObjectCreated under uploads/ to the imports queue (devtools/provision.py),
as the template's bucket does. This worker receives one message at a time and hands its body to
the function's own code (chalicelib/api/import_files.process_message); a message is deleted only
when that returns: one whose processing raised comes back after the queue's visibility timeout, as
in AWS (the processing is idempotent). Settings come from the environment, as for the app.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any

from chalicelib.observability import logger
from devtools.provision import IMPORTS_QUEUE_NAME

Handle = Callable[[str], Any]


def imports_queue(sqs: Any) -> str:
    url: str = sqs.get_queue_url(QueueName=IMPORTS_QUEUE_NAME)["QueueUrl"]
    return url


def poll_once(sqs: Any, queue_url: str, handle: Handle, wait_seconds: int = 0) -> int:
    """Receive and process one message, if any; how many were processed."""
    messages = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=wait_seconds
    ).get("Messages", [])
    done = 0
    for message in messages:
        try:
            handle(message["Body"])
        except Exception as error:  # left in the queue: redelivered, as Lambda's mapping does
            logger.error("import processing failed", extra={"error": type(error).__name__})
            continue
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        done += 1
    return done


def drain(sqs: Any, handle: Handle) -> int:
    """Process every message the queue holds now (tests, `once`)."""
    queue_url, total = imports_queue(sqs), 0
    while done := poll_once(sqs, queue_url, handle):
        total += done
    return total


def _sqs() -> Any:
    """The process's SQS client: the core's, which the processing's container is then built on
    (one session and one set of clients per process, as in the function)."""
    from chalicelib.bootstrap import get_core

    return get_core().aws.sqs()


def main(argv: Sequence[str] | None = None) -> int:
    from chalicelib.api.import_files import process_message

    parser = argparse.ArgumentParser(description="the local processing of uploaded spreadsheets")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("once", help="process what the imports queue holds now")
    loop = commands.add_parser("loop", help="process uploads until SIGTERM/SIGINT")
    loop.add_argument("--wait", type=int, default=1, help="long-poll seconds per receive")
    args = parser.parse_args(argv)
    sqs = _sqs()
    if args.command == "once":
        print(json.dumps({"processed": drain(sqs, process_message)}), flush=True)
        return 0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    queue_url = imports_queue(sqs)
    while not stop.is_set():
        try:
            poll_once(sqs, queue_url, process_message, args.wait)
        except Exception as error:  # moto restarting, a stalled call: keep the local loop alive
            logger.error("imports queue unreadable", extra={"error": type(error).__name__})
            stop.wait(1.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
