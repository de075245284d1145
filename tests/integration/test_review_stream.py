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
from chalicelib.domain.access_review import ReviewEvent, ReviewState, review
from chalicelib.domain.audit_chain import AuditEvent, format_time
from devtools.audit_jobs import audit_stream_poller
from devtools.provision import provision
from testkit.fakes import FixedClock
from testkit.review import POLICY

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


@pytest.mark.parametrize(
    "tampered",
    [
        {"last_seq": "9"},  # a type the detectors compare with an int
        {"last_seq": True},
        {"window": "not a time"},  # an alert's window is parsed from it
        {"reads": {"a": 5}},
        {"reads": ["a"]},
        {"searches": {"a": "1"}},
        {"history": ["1"] * 40},  # past the minimum history: its percentile is taken
        {"refusals": {"a": None}},
    ],
)
def test_a_state_item_of_a_tampered_shape_never_stalls_the_stream(
    journal: DynamoDbAuditJournal, tampered: dict[str, object]
) -> None:
    states = DynamoDbReviewStates(FixedClock())
    hour = format_time(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    assert states.save(CHAIN, ReviewState(last_seq=3, window=hour), version=0)
    stored = json.loads(ReviewState(last_seq=3, window=hour).to_json())
    boto3.client("dynamodb", region_name="eu-west-3").put_item(
        TableName=get_settings().review_state_table,
        Item={
            "finess": {"S": CHAIN},
            "version": {"N": "1"},
            "state": {"S": json.dumps(stored | tampered)},
            "saved_at": {"S": "2026-11-30T09:00:00Z"},
        },
    )
    state, version = states.load(CHAIN)
    assert version == 1  # saved on top of the tampered item, never beside it
    at = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
    events = [  # one of each path through the detectors, the last one raising an alert
        ReviewEvent(4, at, "a", "pharmacist", "read", "success", ("r",)),
        ReviewEvent(5, at, "a", "pharmacist", "patient_export", "success"),
        ReviewEvent(6, at, "a", "pharmacist", "read", "denied"),
        ReviewEvent(7, at, "admin", "platform_admin", "read_settings", "success"),
    ]
    after, alerts = review(state, CHAIN, events, POLICY)  # the detectors run on it without raising
    assert after.last_seq == 7 and [alert.detector for alert in alerts] == ["platform_decision"]


def test_a_pharmacy_item_of_an_unknown_zone_is_read_in_its_finess_zone(journal: DynamoDbAuditJournal) -> None:
    PharmacyModel(CHAIN, name="P", created_at="2026-11-30T00:00:00Z", created_by="t").save()
    PharmacyModel(CHAIN).update(
        actions=[
            PharmacyModel.opening_hours.set(json.dumps({"mon": ["08:30-19:30"]})),
            PharmacyModel.time_zone.set("Mars/Olympus_Mons"),
        ]
    )
    declared = DynamoDbPharmacyHours().opening_hours(CHAIN)
    assert declared is not None and declared.time_zone == "Europe/Paris"
    assert not declared.is_open(datetime(2026, 11, 30, 19, 0, tzinfo=UTC))  # 20:00 in Paris: never raises
