"""What the audit journal's tests on moto share: a stepping clock, events, raw items, the verifier's
verdicts."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3

from chalicelib.adapters.audit_key import public_key_verifier
from chalicelib.adapters.dynamodb.audit_checkpointer import DynamoDbCheckpointer, KmsSigner
from chalicelib.adapters.dynamodb.journal import DynamoDbAuditJournal
from chalicelib.bootstrap import audit_journal
from chalicelib.config import get_settings
from chalicelib.domain.audit_chain import AuditEvent
from chalicelib.domain.audit_verification import VerificationReport
from chalicelib.domain.finess import check_digit
from devtools.audit_jobs import audit_stream_poller
from operations import verify_audit

if TYPE_CHECKING:
    pass


class StepClock:
    """Each call is one second later: deterministic times, and a window can be cut between events."""

    def __init__(self, start: datetime = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)) -> None:
        self.moment = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            self.moment += timedelta(seconds=1)
            return self.moment


def valid_finess(prefix8: str) -> str:
    return prefix8 + check_digit(prefix8)


def make_journal(clock: Any, **kwargs: Any) -> DynamoDbAuditJournal:
    kwargs.setdefault("sleep", lambda _s: None)
    return audit_journal(get_settings(), clock, **kwargs)


def make_checkpointer(clock: Any) -> DynamoDbCheckpointer:
    return DynamoDbCheckpointer(
        signer=KmsSigner(boto3.client("kms"), get_settings().audit_key_id), clock=clock
    )


def report_of(chain: str, clock: StepClock, *, worm: bool = True) -> VerificationReport:
    """What the verifier says of the chain as AWS holds it, now (the clock's time)."""
    source = verify_audit.AwsSource(worm=worm)
    now = clock.now()
    verifier = public_key_verifier(source.public_key())
    return verify_audit.verify_document(
        source.document(chain, now), verifier, now=now, period=timedelta(hours=1)
    )


_pollers: dict[str, Any] = {}


def copy_to_worm() -> int:
    """Run the stream consumer over what the audit stream got since its last run (one consumer per
    account, as Lambda's event source mapping keeps its position)."""
    poller = _pollers.setdefault(
        get_settings().audit_worm_bucket + get_settings().audit_key_id, audit_stream_poller()
    )
    return int(poller.poll_once())


def ev(i: int, finess: str | None, **overrides: Any) -> AuditEvent:
    fields: dict[str, Any] = {
        "action": "read",
        "outcome": "success",
        "actor": f"user-{i % 3}",
        "role": "pharmacist",
        "finess": finess,
        "record_ids": (f"rec-{i}",),
        "request_id": f"req-{i}",
        "source_ip": "192.0.2.7",
        "user_agent": "depistage-app/2.1",
    }
    fields.update(overrides)
    return AuditEvent(**fields)


def ddb() -> Any:
    return boto3.client("dynamodb")


def key(chain: str, seq: int) -> dict[str, Any]:
    return {"chain": {"S": chain}, "seq": {"N": str(seq)}}


def raw_item(chain: str, seq: int) -> dict[str, Any]:
    table = get_settings().audit_table
    return dict(ddb().get_item(TableName=table, Key=key(chain, seq), ConsistentRead=True)["Item"])


def put_raw(item: dict[str, Any], table: str | None = None) -> None:
    ddb().put_item(TableName=table or get_settings().audit_table, Item=item)


def delete_raw(chain: str, seq: int) -> None:
    ddb().delete_item(TableName=get_settings().audit_table, Key=key(chain, seq))


def verdict(chain: str, clock: StepClock) -> tuple[int, str]:
    report = report_of(chain, clock)
    broken = report.first_broken
    assert broken is not None, report.summary()
    return broken.seq, broken.kind


def findings(chain: str, clock: StepClock) -> list[tuple[int, str]]:
    return sorted((f.seq, f.kind) for f in report_of(chain, clock).findings)


def cli(clock: StepClock, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = verify_audit.run(list(args), out=out, clock=clock.now)
    return code, out.getvalue()


def seqs(journal: DynamoDbAuditJournal, chain: str, **window: Any) -> list[int]:
    items, _ = journal.read(chain, start=window.get("start"), end=window.get("end"), limit=500, cursor=None)
    return [e["seq"] for e in items]


HOUR = timedelta(hours=1)


def delete_checkpoint(chain: str, n: int) -> None:
    ddb().delete_item(
        TableName=get_settings().audit_checkpoints_table, Key={"chain": {"S": chain}, "n": {"N": str(n)}}
    )
