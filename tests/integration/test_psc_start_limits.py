"""The PSC login start counters on DynamoDB (moto): one atomic count per start, per key and window,
shared by every process, removed by TTL; a login that leads nowhere keeps its refusal time."""

from __future__ import annotations

from chalicelib.adapters.dynamodb.directory import DynamoDbPscLogins
from chalicelib.adapters.dynamodb.models import PscLoginModel
from chalicelib.adapters.dynamodb.psc_limits import COUNTER_PREFIX, DynamoDbPscStartLimits
from chalicelib.ports import PscLogin

WINDOW_END = 1_796_000_100


def test_starts_are_counted_per_key_and_window_by_every_process(aws: dict[str, str]) -> None:
    one, other = DynamoDbPscStartLimits(), DynamoDbPscStartLimits()  # two Lambda processes
    assert [one.count("id:abc", window_end=WINDOW_END) for _ in range(2)] == [1, 2]
    assert other.count("id:abc", window_end=WINDOW_END) == 3
    assert other.count("id:abc", window_end=WINDOW_END + 300) == 1  # the next window starts afresh
    assert one.count("source:203.0.113.7", window_end=WINDOW_END) == 1
    counter = PscLoginModel.get(f"{COUNTER_PREFIX}id:abc#{WINDOW_END}")
    assert counter.starts == 3
    assert counter.expires_at is not None and counter.expires_at.timestamp() == WINDOW_END + 3600


def test_a_login_that_leads_nowhere_is_stored_with_when_it_is_refused(aws: dict[str, str]) -> None:
    logins = DynamoDbPscLogins()
    login = PscLogin(
        handle_digest="d" * 64,
        auth_req_id="",
        username="psc-810000000099",
        national_id="810000000099",
        finess="",
        expires_at=1_796_000_120.0,
        interval=5,
        next_poll_at=1_796_000_005.0,
        refuse_at=1_796_000_030.5,
    )
    logins.add(login)
    stored = logins.get("d" * 64)
    assert stored == login and stored.leads_nowhere
    live = PscLogin("e" * 64, "req-1", "psc-810000000001", "810000000001", "750000010", 1.0, 5, 1.0)
    logins.add(live)
    assert logins.get("e" * 64) == live and not live.leads_nowhere
