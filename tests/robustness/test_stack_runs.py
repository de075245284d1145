"""schemathesis and a small load run against the real local stack (moto server + chalice local),
with real Cognito access tokens. `make fuzz` and `make load` are the long versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from devtools import fuzz, load
from devtools.login import login_stack_user

pytestmark = pytest.mark.xdist_group("stack")

# Per operation and phase: the bounded run of `make test`, about 240 examples a phase over the
# API's 34 operations (10 each when it had 28).
FUZZ_EXAMPLES = 7
FUZZ_SCENARIOS = 30  # stateful sequences: enough that walks along the links happen on any day


def audit_events(stack: dict[str, Any]) -> list[dict[str, Any]]:
    token = login_stack_user(stack, "admin-a")["AccessToken"]
    events: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):
        params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
        response = requests.get(
            stack["api_url"] + "/v1/audit",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        page = response.json()
        events += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return events
    raise AssertionError("the audit journal did not end")


def test_schemathesis_finds_no_failure_and_walks_the_links(
    local_stack: dict[str, Any], tmp_path: Path
) -> None:
    result = fuzz.run(
        local_stack, tmp_path, max_examples=FUZZ_EXAMPLES, scenarios=FUZZ_SCENARIOS, seed=20261129
    )
    print(f"\nschemathesis: {result.examples} examples, {result.failures} failures")
    assert result.exit_code == 0 and result.failures == 0, result.output[-6000:]
    assert result.examples >= 100
    assert result.report["operations"]["tested"] == result.report["operations"]["total"]
    assert all(phase["status"] == "success" for phase in result.report["phases"].values()), result.report[
        "phases"
    ]

    # The stateful phase followed links on records it created. Which of the five links out of a
    # creation it draws is random (the seed meets a different day's data each day), so this asks for
    # some walk, not a given one; tests/robustness/test_openapi.py walks every link, every time.
    actions: dict[str, set[str]] = {}
    for event in audit_events(local_stack):
        if event["outcome"] == "success" and event["actor"] == fuzz.FUZZ_USER:
            for record_id in event["record_ids"]:
                actions.setdefault(record_id, set()).add(event["action"])
    # Random ids never name a record: an action on a record the fuzzer created came through a link.
    created = {r for r, done in actions.items() if "create" in done}
    linked = {action for r in created for action in actions[r]}
    walked = linked & {"read", "set_result", "read_delivery", "cancel", "withdraw"}
    assert walked, sorted(linked)


def test_a_small_load_run_loses_and_doubles_nothing(local_stack: dict[str, Any]) -> None:
    report = load.run(
        local_stack, load.LoadPlan(clients=2, creates=20, cut_short_rate=0.25, resend_rate=0.25, seed=7)
    )
    print("\n" + report.summary())
    assert report.unexpected == []
    assert report.acknowledged == 40 == report.stored
    assert report.lost == 0 and report.duplicated == 0
    assert report.cut_short + report.resent > 0  # the flaky network did happen
