"""The per-window counters of Pro Santé Connect login starts (services/psc_login.py), shared by
every process: in the logins table, beside the logins (models.PscLoginModel)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.adapters.dynamodb.errors import dynamodb_errors
from chalicelib.adapters.dynamodb.models import PscLoginModel

COUNTER_PREFIX = "start-limit#"


class DynamoDbPscStartLimits:
    """PscStartLimits: one counter item per key and window (an atomic ADD: one round trip per count),
    removed by TTL an hour after its window."""

    def count(self, key: str, *, window_end: int) -> int:
        item = PscLoginModel(f"{COUNTER_PREFIX}{key}#{window_end}")
        with dynamodb_errors():
            item.update(
                actions=[
                    PscLoginModel.starts.add(1),
                    PscLoginModel.expires_at.set(
                        datetime.fromtimestamp(window_end, UTC) + timedelta(hours=1)
                    ),
                ]
            )
        return int(item.starts or 0)
