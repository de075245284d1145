"""Operator command for the retention purge, and the body of its daily scheduled function.

    python -m devtools.purge [--dry-run] [--now 2027-03-01T03:00:00Z]

prints the JSON report (record ids erased per reason, skipped, never acknowledged near the cap).
`--dry-run` reads and reports the same and writes nothing. `--now` evaluates the policy as of
another moment (a dry run "as of next week" shows what will go); a real run with `--now` in the
future would erase early, so it is refused unless `--dry-run` is given.

Settings come from the environment (chalicelib.config): RETENTION_AFTER_ACK_DAYS,
RETENTION_HARD_CAP_DAYS, RETENTION_TTL_GRACE_DAYS, SKELETON_RETENTION_DAYS, RETENTION_ALARM_DAYS,
RETENTION_PURGE_LOOKBACK_DAYS, and the AWS ones.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from chalicelib.jobs import scheduled_purge
from chalicelib.services.retention import purge

__all__ = ["main", "scheduled_purge"]


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("--now needs a timezone (Z or an offset)")
    return moment.astimezone(UTC)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="retention purge: erase expired personal data")
    parser.add_argument("--dry-run", action="store_true", help="report what would be erased; change nothing")
    parser.add_argument("--now", type=_moment, help="evaluate the policy as of this RFC 3339 moment")
    args = parser.parse_args(argv)
    from chalicelib import bootstrap

    container = bootstrap.get_container()
    real_now = container.clock.now()
    now = args.now or real_now
    if now > real_now and not args.dry_run:
        parser.error("--now in the future is for --dry-run only: it would erase early")
    report = purge(container.purge, now, dry_run=args.dry_run)
    print(json.dumps(report.to_json(), indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
