"""Map DynamoDB failures to the domain: a throttle or an outage is a 503, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import botocore.exceptions
from pynamodb.exceptions import PynamoDBConnectionError, PynamoDBException

from chalicelib.domain.errors import ServiceUnavailable

CONDITION_FAILED = "ConditionalCheckFailedException"
# botocore's connect/read timeouts and connection failures (ReadTimeoutError is an HTTPClientError).
BOTOCORE_UNREACHABLE = (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)


def is_conditional_failure(exc: Exception) -> bool:
    """A write's condition did not hold: PynamoDB's errors and botocore's ClientError alike."""
    code = getattr(exc, "cause_response_code", None)
    if code is None:
        code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")
    return bool(code == CONDITION_FAILED)


@contextmanager
def dynamodb_errors() -> Iterator[None]:
    """PynamoDB retries throttles itself (bounded, with backoff); what still fails becomes a 503."""
    try:
        yield
    except PynamoDBConnectionError as exc:
        raise ServiceUnavailable("The database is unavailable; retry later.") from exc
    except PynamoDBException as exc:
        if isinstance(exc.cause, BOTOCORE_UNREACHABLE):  # a timeout or a cut connection, after retries
            raise ServiceUnavailable("The database is unavailable; retry later.") from exc
        if exc.cause_response_code in {
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "RequestLimitExceeded",
            "InternalServerError",
            "ServiceUnavailable",
        }:
            raise ServiceUnavailable("The database is busy; retry later.") from exc
        raise
