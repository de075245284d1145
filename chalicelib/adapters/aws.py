"""One timeout and retry policy for every AWS call (`AwsCalls`, from Settings' aws_* fields).

boto3 clients take `client_config`; PynamoDB its per-model Meta values (`pynamodb_meta`), which its
default "LEGACY" retry configuration turns into the same botocore standard mode with
`1 + max_retry_attempts` attempts in all; the encryption SDK builds its KMS clients from a botocore
session, which gets the same config as its default (`configured_botocore_session`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import botocore.config
import botocore.session

RETRY_MODE: Literal["standard"] = "standard"


@dataclass(frozen=True)
class AwsCalls:
    """Where AWS calls go and what each may cost (bootstrap builds it from Settings' region,
    aws_endpoint_url and aws_* fields)."""

    region: str
    endpoint_url: str | None
    connect_timeout_seconds: int
    read_timeout_seconds: int
    max_attempts: int


def client_config(calls: AwsCalls) -> botocore.config.Config:
    return botocore.config.Config(
        retries={"total_max_attempts": calls.max_attempts, "mode": RETRY_MODE},
        connect_timeout=calls.connect_timeout_seconds,
        read_timeout=calls.read_timeout_seconds,
    )


def pynamodb_meta(calls: AwsCalls) -> dict[str, Any]:
    return {
        "connect_timeout_seconds": calls.connect_timeout_seconds,
        "read_timeout_seconds": calls.read_timeout_seconds,
        "max_retry_attempts": calls.max_attempts - 1,  # retries after the first attempt
    }


def configured_botocore_session(calls: AwsCalls) -> botocore.session.Session:
    session = botocore.session.Session()
    session.set_default_client_config(client_config(calls))
    return session
