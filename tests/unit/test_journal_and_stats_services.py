"""Reading the journal and the statistics on in-memory ports: for a pharmacy_admin of their own
pharmacy only, and each read journaled before it answers."""

from __future__ import annotations

from datetime import date

import pytest

from chalicelib.domain.errors import Forbidden, ServiceUnavailable
from chalicelib.domain.model import DeliveryState, Principal, RecordStatus, Role, ScreeningResult
from chalicelib.domain.stats import Skeleton
from chalicelib.payloads import AuditQuery, parse_stats_query
from chalicelib.ports import RequestMeta
from chalicelib.services import journal, stats
from chalicelib.services.call import Call
from testkit.fakes import FakeJournal, FakeRetentionStore

PHARMACY = "750000010"
OWNER = Principal("owner", Role.PHARMACY_ADMIN, PHARMACY)
PHARMACIST = Principal("camille", Role.PHARMACIST, PHARMACY)
META = RequestMeta(request_id="r-1")
DAY = date(2026, 11, 29)
ONE_DAY = {"from": "2026-11-29", "to": "2026-11-29"}


def read(fake: FakeJournal, caller: Principal) -> list[dict[str, object]]:
    items, _cursor = journal.read_audit(
        fake, Call(caller, META), AuditQuery(from_=None, to=None, limit=50, cursor=None)
    )
    return items


def test_a_pharmacy_admin_reads_their_chain_and_that_read_is_on_it() -> None:
    fake = FakeJournal()
    items = read(fake, OWNER)
    assert [item["action"] for item in items] == ["read_audit"]


def test_a_pharmacist_reads_no_journal_and_the_refusal_is_journaled() -> None:
    fake = FakeJournal()
    with pytest.raises(Forbidden):
        read(fake, PHARMACIST)
    assert fake.actions() == [("read_audit", "denied")]


def test_the_public_key_is_unavailable_until_the_checkpoint_function_published_it() -> None:
    fake = FakeJournal()
    with pytest.raises(ServiceUnavailable):
        journal.read_public_key(fake, Call(OWNER, META))
    assert fake.actions() == []


def test_statistics_count_skeletons_only_and_the_read_is_journaled() -> None:
    store = FakeRetentionStore()
    store.skeletons[(PHARMACY, DAY)] = [
        Skeleton(RecordStatus.ACKNOWLEDGED, ScreeningResult.POSITIVE, DeliveryState.ACKNOWLEDGED),
        Skeleton(RecordStatus.ACKNOWLEDGED, ScreeningResult.NEGATIVE, DeliveryState.ACKNOWLEDGED),
        Skeleton(RecordStatus.PENDING, None, DeliveryState.PENDING),
    ]
    fake = FakeJournal()
    answer = stats.read_stats(
        stats.StatsDeps(store, fake),
        Call(OWNER, META),
        parse_stats_query({"from": "2026-11-29", "to": "2026-11-29"}),
    )
    assert answer["totals"]["tests"] == 3 and answer["totals"]["positivity"] == 0.5
    assert fake.events[-1].action == "read_stats" and fake.events[-1].reason == "2026-11-29..2026-11-29"


def test_no_statistics_leave_when_the_journal_is_down() -> None:
    fake = FakeJournal(down=True)
    with pytest.raises(ServiceUnavailable):
        stats.read_stats(
            stats.StatsDeps(FakeRetentionStore(), fake), Call(OWNER, META), parse_stats_query(ONE_DAY)
        )
