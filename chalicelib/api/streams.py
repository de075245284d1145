"""Stream handlers: the audit journal's new links to the WORM bucket (chalicelib/adapters/worm.py).

Lambda's event source mapping feeds it in stream order, one batch in flight per shard, retried
whole until it succeeds (infra/template.py sets that up); `make run` does the same with
devtools/streams.py."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import jobs

blueprint = Blueprint(__name__)

# Chalice needs a stream ARN when the app is imported; infra/template.py puts the audit table's
# own stream in its place (and packaging fails if this placeholder reaches the template).
PLACEHOLDER_STREAM_ARN = (
    "arn:aws:dynamodb:eu-west-3:000000000000:table/set-by-infra-build/stream/set-by-infra-build"
)


@blueprint.on_dynamodb_record(
    stream_arn=PLACEHOLDER_STREAM_ARN, batch_size=100, starting_position="TRIM_HORIZON", name="audit_to_worm"
)
def audit_to_worm(event: Any) -> dict[str, int]:
    return jobs.copy_audit_to_worm(event.to_dict()["Records"])
