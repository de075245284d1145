"""`make campaign` on the local stack: 300 records synchronised in 3 batches of 100 (a fifth captured
offline the day before), each acknowledged by the fake SI-DEP and by the API (devtools/campaign.py)."""

from __future__ import annotations

from typing import Any

import pytest

from devtools import campaign

pytestmark = pytest.mark.xdist_group("stack")


def test_a_campaign_of_three_hundred_records_is_created_once_and_acknowledged_by_sidep(
    local_stack: dict[str, Any],
) -> None:
    report = campaign.run(local_stack, campaign.CampaignPlan(records=300, wait_seconds=180, seed=28))
    print("\n" + report.summary())
    assert report.failures == []
    assert len(report.created) == 300 and len(set(report.created.values())) == 300
    assert report.offline == len(report.captured) == report.captured_shown == 60
    assert report.held_by_sidep == report.acknowledged_here == 300 and report.replay_same
    assert report.last_ack_seconds is not None and report.last_ack_seconds < 180
    assert "verdict: PASS" in report.summary()
