"""Stream handlers: the audit journal's new links to the WORM bucket (chalicelib/adapters/worm.py)
and to the journal's automatic review (chalicelib/services/review.py), and the export's trigger
(the records a change made ready go to SI-DEP within seconds).

Lambda's event source mapping feeds each in stream order, one batch in flight per shard: the WORM
copy's batches are retried whole until they succeed, the trigger's twice, bisected, then left to
the sweeper (infra/template/functions.py sets that up); `make run` does the same with devtools/streams.py."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import jobs

blueprint = Blueprint(__name__)

# Chalice needs a stream ARN when the app is imported; infra/template/functions.py puts each handler's
# table's own stream in its place (and packaging fails if this placeholder reaches the template).
PLACEHOLDER_STREAM_ARN = (
    "arn:aws:dynamodb:eu-west-3:000000000000:table/set-by-infra-build/stream/set-by-infra-build"
)


@blueprint.on_dynamodb_record(
    stream_arn=PLACEHOLDER_STREAM_ARN, batch_size=100, starting_position="TRIM_HORIZON", name="audit_to_worm"
)
def audit_to_worm(event: Any) -> dict[str, int]:
    return jobs.copy_audit_to_worm(event.to_dict()["Records"])


# The audit stream's second consumer (DynamoDB serves two per stream): the journal's automatic
# review. Retried whole until it succeeds, like the WORM copy: its state skips what it reviewed.
REVIEW_BATCH_SIZE = 100


@blueprint.on_dynamodb_record(
    stream_arn=PLACEHOLDER_STREAM_ARN,
    batch_size=REVIEW_BATCH_SIZE,
    starting_position="TRIM_HORIZON",
    name="review_access",
)
def review_access(event: Any) -> dict[str, int]:
    return jobs.review_access(event.to_dict()["Records"])


# The trigger's batching window: a result is at SI-DEP seconds after it is set, in batches.
TRIGGER_BATCH_SIZE = 100
TRIGGER_WINDOW_SECONDS = 1


@blueprint.on_dynamodb_record(
    stream_arn=PLACEHOLDER_STREAM_ARN,
    batch_size=TRIGGER_BATCH_SIZE,
    starting_position="LATEST",
    maximum_batching_window_in_seconds=TRIGGER_WINDOW_SECONDS,
    name="export_on_change",
)
def export_on_change(event: Any) -> dict[str, Any]:
    """The trigger: the records a stream batch made ready go to SI-DEP now."""
    images = [record.new_image for record in event if record.new_image]
    return jobs.export_changed(images, event.context.get_remaining_time_in_millis())
