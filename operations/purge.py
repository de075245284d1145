"""Operator command for the retention purge (`make purge`; its daily schedule is `purge_expired`).

    python -m operations.purge [--dry-run] [--now 2027-03-01T03:00:00Z] [--ids] [--json]

prints what was erased per reason (counts; `--ids` lists the record ids), what was skipped, and
the records SI-DEP never acknowledged that are near the hard cap. `--dry-run` reads and reports
the same and writes nothing. `--now` evaluates the policy as of another moment (a dry run "as of
next week" shows what will go); a real run with `--now` in the future would erase early, so it is
refused unless `--dry-run` is given. `--json`: the full report (ids included) as one document.
Finds the service as every operator command does (operations/target.py); a real run on a deployed
stage invokes the stage's purge function (the operator's role erases nothing itself).
Exit status: 0 done; 1 done, and records never acknowledged by SI-DEP are near the cap (or were
skipped: the next run retries them); 2 could not run.

The policy's settings: RETENTION_AFTER_ACK_DAYS, RETENTION_HARD_CAP_DAYS, RETENTION_TTL_GRACE_DAYS,
SKELETON_RETENTION_DAYS, RETENTION_ALARM_DAYS, RETENTION_PURGE_LOOKBACK_DAYS (chalicelib.config).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from chalicelib.jobs import scheduled_purge
from operations import cli
from operations.target import CONTAINER_SETTINGS, Target, invoke_deployed

__all__ = ["main", "scheduled_purge"]


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError("--now takes an RFC 3339 moment: 2027-03-01T03:00:00Z") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("--now needs a timezone (Z or an offset)")
    return moment.astimezone(UTC)


def show(report: dict[str, Any], out: cli.Output, with_ids: bool) -> None:
    counts = report["counts"]
    days = report.get("days_read") or {}
    verb = "would erase" if report["dry_run"] else "erased"
    out.line(
        f"{'dry run: ' if report['dry_run'] else ''}as of {report['now']}, days {days.get('from', '-')}"
        f"..{days.get('to', '-')}: {verb} the personal data of {counts['erased']} record(s)"
        + (" (stopped by the time budget: the next run goes on)" if report.get("stopped_by_budget") else "")
    )
    rows = [(f"{verb}: {reason}", len(ids)) for reason, ids in report["erased"].items()]
    rows += [
        ("skipped: under an export lease", counts["skipped_leased"]),
        ("skipped: changed meanwhile", counts["skipped_changed"]),
        ("never acknowledged, near the cap", counts["unacknowledged_near_cap"]),
    ]
    out.table(["", "records"], rows)
    if with_ids:
        for reason, ids in report["erased"].items():
            for record_id in ids:
                out.line(f"  {reason} {record_id}")
    for record_id in report["unacknowledged_near_cap"]:
        out.line(f"  near the cap, SI-DEP never acknowledged: {record_id}")


def purge_now(args: argparse.Namespace, target: Target, out: cli.Output) -> int:
    if target.kind == "deployed" and not args.dry_run:
        if args.now:
            raise ValueError("--now is for --dry-run only on a deployed stage")
        report = invoke_deployed(target, "PurgeFunctionName")
    else:
        from chalicelib import bootstrap
        from chalicelib.services.retention import purge

        target.require(CONTAINER_SETTINGS)
        container = bootstrap.get_container()
        real_now = container.clock.now()
        now = args.now or real_now
        if now > real_now and not args.dry_run:
            return cli.say_cannot_run("purge", "--now in the future is for --dry-run only: it erases early")
        with cli.progress("purging" if not args.dry_run else "reading what the purge would erase"):
            report = purge(container.purge, now, dry_run=args.dry_run).to_json()
    show(report, out, args.ids)
    out.document({"target": target.source, **report})
    counts = report["counts"]
    attention = counts["unacknowledged_near_cap"] or counts["skipped_leased"] or counts["skipped_changed"]
    return cli.EXIT_ATTENTION if attention else cli.EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser("purge", "retention purge: erase expired personal data")
    parser.add_argument("--dry-run", action="store_true", help="report what would be erased; change nothing")
    parser.add_argument("--now", type=_moment, help="evaluate the policy as of this RFC 3339 moment")
    parser.add_argument("--ids", action="store_true", help="list every erased record id (--json always does)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return cli.run("purge", args, purge_now)


if __name__ == "__main__":
    sys.exit(main())
