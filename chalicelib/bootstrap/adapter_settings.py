"""What each adapter takes of the settings: the adapters never see Settings, the bootstrap hands
each its part (chalicelib/bootstrap/__init__.py builds the tiers on these)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import botocore.session

from chalicelib.adapters.aws import AwsCalls, configured_botocore_session
from chalicelib.config import Settings
from chalicelib.ports import Clock

if TYPE_CHECKING:
    from chalicelib.adapters.crypto import EnvelopeCipher
    from chalicelib.adapters.dynamodb.journal import DynamoDbAuditJournal


def aws_calls(settings: Settings) -> AwsCalls:
    return AwsCalls(
        region=settings.region,
        endpoint_url=settings.aws_endpoint_url,
        connect_timeout_seconds=settings.aws_connect_timeout_seconds,
        read_timeout_seconds=settings.aws_read_timeout_seconds,
        max_attempts=settings.aws_max_attempts,
    )


def bind_tables(settings: Settings) -> None:
    """Point the PynamoDB models at the configured tables, region, endpoint and timeouts."""
    from chalicelib.adapters.dynamodb.models import TABLE_SETTINGS, bind_models

    bind_models(
        {model: getattr(settings, name) for model, name in TABLE_SETTINGS.items()}, aws_calls(settings)
    )


def envelope_cipher(
    settings: Settings, botocore_session: botocore.session.Session | None = None
) -> EnvelopeCipher:
    from chalicelib.adapters.crypto import DataKeyCache, EnvelopeCipher

    cache = DataKeyCache(
        max_age_seconds=settings.data_key_cache_max_age_seconds,
        max_messages=settings.data_key_cache_max_messages,
        capacity=settings.data_key_cache_capacity,
    )
    return EnvelopeCipher(
        settings.data_key_id,
        cache,
        botocore_session=botocore_session or configured_botocore_session(aws_calls(settings)),
    )


def audit_journal(settings: Settings, clock: Clock, **options: Any) -> DynamoDbAuditJournal:
    from chalicelib.adapters.dynamodb.journal import DynamoDbAuditJournal

    return DynamoDbAuditJournal(
        retention_days=settings.audit_retention_days, calls=aws_calls(settings), clock=clock, **options
    )
