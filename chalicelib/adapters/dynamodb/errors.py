"""Map DynamoDB failures to the domain: a throttle or an outage is a 503, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import botocore.exceptions
from pynamodb.exceptions import PynamoDBConnectionError, PynamoDBException

from chalicelib.domain.errors import ServiceUnavailable

CONDITION_FAILED = "ConditionalCheckFailedException"
# A single-item write on an item a transaction is writing (DynamoDB refuses it; botocore does not
# retry it).
TRANSACTION_CONFLICT = "TransactionConflictException"
# A transaction's cancellation reasons, per item: its condition failed; another transaction was
# writing it.
CANCELLED_BY_CONDITION = "ConditionalCheckFailed"
CANCELLED_BY_CONFLICT = "TransactionConflict"
# botocore's connect/read timeouts and connection failures (ReadTimeoutError is an HTTPClientError).
BOTOCORE_UNREACHABLE = (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)


def _code(exc: Exception) -> str | None:
    """The error code of PynamoDB's errors and botocore's ClientError alike."""
    code = getattr(exc, "cause_response_code", None)
    if code is None:
        code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")
    return code if isinstance(code, str) else None


def is_conditional_failure(exc: Exception) -> bool:
    """A write's condition did not hold."""
    return _code(exc) == CONDITION_FAILED


def is_transaction_conflict(exc: Exception) -> bool:
    """A single-item write refused because a transaction was writing the same item."""
    return _code(exc) == TRANSACTION_CONFLICT


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
        # _code, not cause_response_code: PynamoDB's property fails on a cause without a response
        if is_transaction_conflict(exc):  # it lasts while that transaction commits
            raise ServiceUnavailable("The item is being changed; retry.", retry_after_seconds=1) from exc
        if _code(exc) in {
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "RequestLimitExceeded",
            "InternalServerError",
            "ServiceUnavailable",
        }:
            raise ServiceUnavailable("The database is busy; retry later.") from exc
        raise
