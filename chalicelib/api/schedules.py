"""Scheduled functions: the SI-DEP export, the audit checkpoints and the retention purge (AWS only:
`make run` uses timers for the export; the purge is `make purge` there)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Cron, Rate

from chalicelib import jobs

blueprint = Blueprint(__name__)


@blueprint.schedule(Rate(5, unit=Rate.MINUTES), name="export_to_sidep")
def export_to_sidep(event: Any) -> dict[str, Any]:
    return jobs.scheduled_export(event.context.get_remaining_time_in_millis())


@blueprint.schedule(Rate(1, unit=Rate.HOURS), name="checkpoint_audit")
def checkpoint_audit(event: Any) -> dict[str, int]:
    return jobs.checkpoint_audit()


@blueprint.schedule(Cron(30, 2, "*", "*", "?", "*"), name="purge_expired")
def purge_expired(event: Any) -> dict[str, Any]:
    """Daily, 02:30 UTC: erase the personal data the retention policy says is due (README "Retention")."""
    return jobs.scheduled_purge(event.context.get_remaining_time_in_millis())


@blueprint.lambda_function(name="redrive_dead_letters")
def redrive_dead_letters(event: Any, context: Any) -> dict[str, int]:
    """The operator's `export redrive` on a stage: dead letters back in the queue, with the export's
    role (the operator role writes no record). The payload is ignored, as the schedules' are."""
    return {"redriven": jobs.redrive()}
