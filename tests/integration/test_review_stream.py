"""The journal's automatic review on moto, through the Chalice `review_access` handler fed by the
local stream poller: an exfiltration raises one alert on the pharmacy's chain, its state is saved on
its version, and the whole stream replayed from its start raises nothing twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from chalicelib import bootstrap
from chalicelib.adapters.dynamodb.audit_items import link_items
from chalicelib.adapters.dynamodb.journal import DynamoDbAuditJournal
from chalicelib.adapters.dynamodb.models import PharmacyModel
from chalicelib.adapters.dynamodb.review_state import DynamoDbPharmacyHours, DynamoDbReviewStates
from chalicelib.bootstrap import audit_journal, bind_tables
from chalicelib.config import get_settings
from chalicelib.domain.access_review import ReviewState
from chalicelib.domain.audit_chain import AuditEvent
from devtools.audit_jobs import audit_stream_poller
from devtools.provision import provision
from testkit.fakes import FixedClock

CHAIN = "750000010"


class Clock:
    def __init__(self) -> None:
        self.moment = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        self.moment += timedelta(seconds=1)
        return self.moment


@pytest.fixture
def journal(monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoDbAuditJournal]:
    with mock_aws():
        env = provision(boto3.Session(region_name="eu-west-3"))
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        bootstrap.reset()
        bind_tables(get_settings())
        yield audit_journal(get_settings(), Clock(), sleep=lambda _s: None)
        bootstrap.reset()


def actions(chain: str) -> list[str]:
    return [json.loads(item["event"]["S"])["action"] for item in link_items(chain)]


def test_an_exfiltration_on_the_stream_raises_one_alert_on_the_pharmacys_chain_and_a_replay_none(
    journal: DynamoDbAuditJournal,
) -> None:
    for i in range(300):
        journal.append(AuditEvent("read", "success", "pharmacist-a", "pharmacist", CHAIN, (f"r-{i:04d}",)))
    review = audit_stream_poller(handler="review_access")
    assert review.poll_once() + review.poll_once() == 301  # its own alert_raised link too, left alone
    assert actions(CHAIN).count("alert_raised") == 1
    state, version = DynamoDbReviewStates(FixedClock()).load(CHAIN)
    assert (state.last_seq, version) == (300, 3)  # one conditional write per batch of 100
    again = audit_stream_poller(handler="review_access")  # a consumer from the stream's start
    assert again.poll_once() == 301
    assert actions(CHAIN).count("alert_raised") == 1


def test_the_state_is_saved_only_on_the_version_it_was_read_at(journal: DynamoDbAuditJournal) -> None:
    states = DynamoDbReviewStates(FixedClock())
    assert states.load(CHAIN) == (ReviewState(), 0)
    assert states.save(CHAIN, ReviewState(last_seq=5), version=0)
    assert not states.save(CHAIN, ReviewState(last_seq=9), version=0)  # another invocation saved first
    assert states.save(CHAIN, ReviewState(last_seq=9), version=1)
    assert states.load(CHAIN) == (ReviewState(last_seq=9), 2)


def test_a_pharmacys_declared_hours_are_read_in_its_zone(journal: DynamoDbAuditJournal) -> None:
    hours = DynamoDbPharmacyHours()
    assert hours.opening_hours(CHAIN) is None  # unknown pharmacy
    PharmacyModel(CHAIN, name="P", created_at="2026-11-30T00:00:00Z", created_by="t").save()
    assert hours.opening_hours(CHAIN) is None  # none declared
    PharmacyModel(CHAIN).update(
        actions=[PharmacyModel.opening_hours.set(json.dumps({"mon": ["08:30-19:30"]}))]
    )
    declared = hours.opening_hours(CHAIN)
    assert declared is not None and declared.time_zone == "Europe/Paris"
    assert declared.is_open(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))  # Monday 09:00 in Paris
    assert not declared.is_open(datetime(2026, 11, 30, 19, 0, tzinfo=UTC))  # 20:00
