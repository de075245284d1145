"""One timeout and retry policy for every AWS call, from Settings (aws_* fields).

boto3 clients take `client_config`; PynamoDB its per-model Meta values (`pynamodb_meta`), which its
default "LEGACY" retry configuration turns into the same botocore standard mode with
`1 + max_retry_attempts` attempts in all; the encryption SDK builds its KMS clients from a botocore
session, which gets the same config as its default (`configured_botocore_session`).
"""

from __future__ import annotations

from typing import Any, Literal

import botocore.config
import botocore.session

from chalicelib.config import Settings

RETRY_MODE: Literal["standard"] = "standard"


def client_config(settings: Settings) -> botocore.config.Config:
    return botocore.config.Config(
        retries={"total_max_attempts": settings.aws_max_attempts, "mode": RETRY_MODE},
        connect_timeout=settings.aws_connect_timeout_seconds,
        read_timeout=settings.aws_read_timeout_seconds,
    )


def pynamodb_meta(settings: Settings) -> dict[str, Any]:
    return {
        "connect_timeout_seconds": settings.aws_connect_timeout_seconds,
        "read_timeout_seconds": settings.aws_read_timeout_seconds,
        "max_retry_attempts": settings.aws_max_attempts - 1,  # retries after the first attempt
    }


def configured_botocore_session(settings: Settings) -> botocore.session.Session:
    session = botocore.session.Session()
    session.set_default_client_config(client_config(settings))
    return session
