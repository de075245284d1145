"""The function that processes an uploaded spreadsheet (services/imports.py).

In AWS the uploads bucket notifies ObjectCreated under `uploads/` to an SQS queue, which feeds this
handler one message at a time (infra/template/imports.py). A queue rather than S3 invoking the
function directly: a message whose processing fails or times out comes back after the queue's
visibility timeout (the processing is idempotent: row keys from the import id and the row number),
at most a few times, then waits in a dead-letter queue that is alarmed, where S3's direct
invocation would retry twice and drop it. The local stack's worker reads the same queue in moto
(devtools/imports_worker.py) and calls the same `process_message`.

The queue's ARN is a resource of our template: the one given here is a placeholder that
infra/template/functions.py replaces.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

blueprint = Blueprint(__name__)

IMPORTS_QUEUE_PLACEHOLDER = "arn:aws:sqs:eu-west-3:000000000000:set-by-infra-imports"


def process_message(body: str) -> dict[str, Any]:
    """One notification message, processed with the process's container."""
    from chalicelib.bootstrap import build_imports, get_container
    from chalicelib.services import imports

    statuses = imports.handle_notification(build_imports(get_container()), body)
    return {"imports": [{"state": s.state.value, "rows_done": s.rows_done} for s in statuses]}


@blueprint.on_sqs_message(queue_arn=IMPORTS_QUEUE_PLACEHOLDER, batch_size=1, name="process_import")
def process_import(event: Any) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for message in event:
        summary = process_message(message.body)
    return summary
