"""Scheduled functions: the SI-DEP export, the audit checkpoints and the retention purge (AWS only:
`make run` uses timers for the export; the purge is `make purge` there)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Cron, Rate

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


@blueprint.schedule(Cron(30, 2, "*", "*", "?", "*"), name="purge_expired")
def purge_expired(event: Any) -> dict[str, Any]:
    """Daily, 02:30 UTC: erase the personal data the retention policy says is due (README "Retention")."""
    from chalicelib.devtools.purge import scheduled_purge

    return scheduled_purge(event.context.get_remaining_time_in_millis())
