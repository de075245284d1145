"""The soak's short form (`make soak` runs the long one): a few dozen records on the local stack
while the fake SI-DEP cuts answers, answers slowly, answers 429 and goes down, judged from SI-DEP's
own view (devtools/soak.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devtools import soak

pytestmark = pytest.mark.xdist_group("stack")


def test_a_short_soak_through_the_receivers_faults_holds_every_result_and_no_false_conflict(
    local_stack: dict[str, Any],
) -> None:
    report = soak.run(
        local_stack,
        Path(local_stack["state_dir"]) / "stack.json",
        soak.SoakPlan(
            clients=4,
            records=40,
            seconds=240,
            drain_seconds=180,
            fault_scale=0.05,  # phases of 1 to 2 s: every fault while the records are created
            bucket=20,
            seed=31,
        ),
    )
    failed = soak.verdict(report, max_rss_mib=1536, max_p95_growth=float("inf"))
    print("\n" + soak.summary(report, failed))
    assert failed == []
    assert report["records_acknowledged"] == 40 and report["held"] == report["expected_held"] > 0
    assert {"cut", "slow", "busy", "down"} <= set(report["faults_phases"])  # the faults did happen
    assert report["cancelled_records"] > 0 and report["cancelled_sent_count"] == 0
    assert report["moto_rss_peak_mib"] > 0 and report["create_latency_by_bucket"]
