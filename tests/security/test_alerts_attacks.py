"""The alerts routes under any path and query an attacker sends: a clear 4xx, never a 500, never the
value sent echoed back, and no alert of pharmacy A ever acknowledged by anyone but A's admin."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.bootstrap import get_container
from chalicelib.domain.alerts import Alert
from tests.conftest import PHARMACY_A, World

CALLERS = ("admin-a", "admin-b", "operator", "pharmacist-a")
SEGMENT = st.text(min_size=1, max_size=3000).filter(lambda t: t.strip("/.") != "")
SWEEP = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def _no_echo(response: Any, *sent: str) -> None:
    assert response.status_code < 500, response.body
    text = response.body.decode()
    for value in sent:
        if len(value) >= 8 and value.strip():
            assert value not in text and json.dumps(value)[1:-1] not in text


def _open_alert_of_a() -> str:
    now = datetime.now(UTC)
    alert = Alert(PHARMACY_A, "bulk_reads", "pharmacist-a", now, now, 300, 200, ())
    get_container().alerts.raise_alert(alert, at=now)
    return alert.alert_id


def test_acknowledging_any_alert_id_or_pharmacy_is_never_a_500_an_echo_or_another_s_acknowledgement(
    world: World,
) -> None:
    theirs = _open_alert_of_a()

    @SWEEP
    @given(
        alert_id=SEGMENT | st.just(theirs),
        finess=SEGMENT | st.just(PHARMACY_A),
        caller=st.sampled_from(CALLERS[1:]),
    )
    def acknowledge(alert_id: str, finess: str, caller: str) -> None:
        path = (
            f"/v1/admin/pharmacies/{quote(finess, safe='')}/alerts/{quote(alert_id, safe='')}/acknowledgement"
        )
        response = world.call("POST", path, caller)
        _no_echo(response, alert_id, finess)
        assert response.status_code in (403, 404), (caller, response.status_code)

    acknowledge()
    stored = get_container().alerts.alert(PHARMACY_A, theirs)
    assert stored is not None and stored.acknowledged_at is None


def test_any_pharmacy_or_query_on_the_list_is_never_a_500_nor_an_echo(world: World) -> None:
    _open_alert_of_a()

    @SWEEP
    @given(
        finess=SEGMENT | st.just(PHARMACY_A),
        limit=st.text(max_size=40),
        flag=st.text(max_size=40),
        caller=st.sampled_from(CALLERS),
    )
    def read(finess: str, limit: str, flag: str, caller: str) -> None:
        query = f"limit={quote(limit, safe='')}&include_acknowledged={quote(flag, safe='')}"
        response = world.call("GET", f"/v1/admin/pharmacies/{quote(finess, safe='')}/alerts?{query}", caller)
        _no_echo(response, finess, limit, flag)

    read()
