"""Operator command: verify audit chains end to end and name the first broken link.

    python -m devtools.verify_audit --all                 # every chain of the local stack
    python -m devtools.verify_audit --chain 750000010     # one chain (repeatable); 'platform' too
    python -m devtools.verify_audit --all --stage prod --json

Finds the service as every operator command does (devtools/target.py). One line per chain as
each is verified (progress on stderr when it is a terminal), then the totals; `--json` prints one
document. Needs kms:VerifyMac on the audit key, which only the operator's role has deployed.
Exit status: 0 every chain intact, 1 a chain is broken (its first broken link is named),
2 the check could not run (no service found, AWS unreachable).

What is verified is chalicelib/services/audit.py (`verify_chain`); this module only presents it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from chalicelib.services.audit import VerificationReport
from devtools import cli
from devtools.target import Target

NEEDS = ("AUDIT_KEY_ID",)


def build_journal(target: Target) -> Any:
    """The journal with the target's settings (reads and kms:VerifyMac only are used)."""
    import boto3

    from chalicelib.adapters.audit import DynamoDbAuditJournal
    from chalicelib.adapters.clock import SystemClock
    from chalicelib.adapters.dynamodb.models import bind_models

    target.require(NEEDS)
    settings = target.settings()
    bind_models(settings)
    kms = boto3.Session(region_name=settings.region).client("kms", endpoint_url=settings.aws_endpoint_url)
    return DynamoDbAuditJournal(settings=settings, kms_client=kms, clock=SystemClock())


def report_json(report: VerificationReport) -> dict[str, Any]:
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


def report_lines(report: VerificationReport, max_findings: int) -> list[str]:
    lines = [report.summary()]
    lines += [f"  expired by retention: seq {gap[0]}..{gap[1]}" for gap in report.expired_gaps]
    lines += [f"  {finding}" for finding in sorted(report.findings, key=lambda f: f.seq)[:max_findings]]
    return lines


def verify(args: argparse.Namespace, target: Target, out: cli.Output, journal: Any = None) -> int:
    journal = journal or build_journal(target)
    chains = sorted(journal.chains()) if args.all else list(args.chain)
    out.line(f"verifying {len(chains)} audit chain(s) of {target.source}")
    reports: list[VerificationReport] = []
    with cli.progress("verifying audit chains", total=len(chains)) as bar:
        for chain in chains:
            report = journal.verify(chain)
            reports.append(report)
            for line in report_lines(report, args.max_findings):
                out.line(line)
            bar.advance(1, f"chain {chain}")
    broken = [r.chain for r in reports if not r.ok]
    names = f": {', '.join(broken)}" if broken else ""
    out.line(f"{len(reports) - len(broken)} intact, {len(broken)} broken{names}")
    out.document(
        {
            "target": target.source,
            "intact": len(reports) - len(broken),
            "broken": broken,
            "chains": [report_json(r) for r in reports],
        }
    )
    return cli.EXIT_ATTENTION if broken else cli.EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser("verify_audit", (__doc__ or "").split("\n", 1)[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--chain", action="append", help="a FINESS, or 'platform' (repeatable)")
    which.add_argument("--all", action="store_true", help="every chain with an event or a checkpoint")
    parser.add_argument("--max-findings", type=int, default=20, help="findings listed per broken chain")
    return parser


def run(argv: Sequence[str] | None = None, *, journal: Any = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    return cli.run("verify_audit", args, lambda a, t, o: verify(a, t, o, journal), out=out)


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
