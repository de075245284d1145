"""Scheduled functions: the SI-DEP export and the audit checkpoints (AWS only: `make run` uses timers)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Rate

from chalicelib.observability import logger

blueprint = Blueprint(__name__)


@blueprint.schedule(Rate(5, unit=Rate.MINUTES), name="export_to_sidep")
def export_to_sidep(event: Any) -> dict[str, Any]:
    from chalicelib.devtools.export import scheduled_export

    return scheduled_export(event.context.get_remaining_time_in_millis())


@blueprint.schedule(Rate(1, unit=Rate.HOURS), name="checkpoint_audit")
def checkpoint_audit(event: Any) -> dict[str, int]:
    """MAC every chain's head, so that deleting the newest events is detected within the hour."""
    from chalicelib.adapters.audit import DynamoDbAuditJournal
    from chalicelib.bootstrap import get_container

    journal = get_container().journal
    assert isinstance(journal, DynamoDbAuditJournal)
    heads = journal.checkpoint_all()
    logger.info("audit checkpoints written", extra={"chains": len(heads)})
    return heads
