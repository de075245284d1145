"""Operator command: verify audit chains end to end and name the first broken link.

    python -m devtools.verify_audit --chain 750000001
    python -m devtools.verify_audit --all [--json]

Reads with the settings of the environment (AUDIT_TABLE, AUDIT_CHECKPOINTS_TABLE, AUDIT_KEY_ID,
AWS_ENDPOINT_URL...); needs kms:VerifyMac on the audit key, which only the operator's role has.
Exit status: 0 every chain intact, 1 a chain is broken (first broken link printed), 2 the check
could not run (AWS unreachable, bad settings).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import boto3

from chalicelib.adapters.audit import DynamoDbAuditJournal
from chalicelib.adapters.clock import SystemClock
from chalicelib.adapters.dynamodb.models import bind_models
from chalicelib.config import ConfigurationError, load_settings
from chalicelib.services.audit import VerificationReport

INTACT, BROKEN, FAILED = 0, 1, 2


def build_journal() -> DynamoDbAuditJournal:
    settings = load_settings()
    if not settings.audit_key_id:
        raise ConfigurationError("AUDIT_KEY_ID is not set: checkpoints cannot be verified")
    bind_models(settings)
    kms = boto3.Session(region_name=settings.region).client("kms", endpoint_url=settings.aws_endpoint_url)
    return DynamoDbAuditJournal(settings=settings, kms_client=kms, clock=SystemClock())


def _as_json(report: VerificationReport) -> dict[str, Any]:
    first = report.first_broken
    return {
        "chain": report.chain,
        "ok": report.ok,
        "events": report.events_checked,
        "checkpoints": report.checkpoints_checked,
        "first_seq": report.first_seq,
        "last_seq": report.last_seq,
        "expired_gaps": report.expired_gaps,
        "first_broken": None
        if first is None
        else {"seq": first.seq, "kind": first.kind, "detail": first.detail},
        "findings": [{"seq": f.seq, "kind": f.kind, "detail": f.detail} for f in report.findings],
    }


def run(
    argv: Sequence[str] | None = None,
    *,
    journal: DynamoDbAuditJournal | None = None,
    out: TextIO = sys.stdout,
) -> int:
    parser = argparse.ArgumentParser(prog="verify_audit", description=__doc__.split("\n", 1)[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--chain", action="append", help="a FINESS, or 'platform' (repeatable)")
    which.add_argument("--all", action="store_true", help="every chain with an event or a checkpoint")
    parser.add_argument("--json", action="store_true", help="one JSON document per chain")
    parser.add_argument("--max-findings", type=int, default=20, help="findings listed per broken chain")
    args = parser.parse_args(argv)
    try:
        journal = journal or build_journal()
        chains = sorted(journal.chains()) if args.all else list(args.chain)
        reports = [journal.verify(chain) for chain in chains]
    except Exception as exc:  # AWS, settings, anything: no verdict rather than a false one
        print(f"verify_audit: could not verify: {type(exc).__name__}: {exc}", file=sys.stderr)
        return FAILED
    for report in reports:
        if args.json:
            print(json.dumps(_as_json(report)), file=out)
            continue
        print(report.summary(), file=out)
        for gap in report.expired_gaps:
            print(f"  expired by retention: seq {gap[0]}..{gap[1]}", file=out)
        for finding in sorted(report.findings, key=lambda f: f.seq)[: args.max_findings]:
            print(f"  {finding}", file=out)
    broken = [r for r in reports if not r.ok]
    if not args.json:
        print(f"{len(reports) - len(broken)} intact, {len(broken)} broken", file=out)
    return BROKEN if broken else INTACT


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
