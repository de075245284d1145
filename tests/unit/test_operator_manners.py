"""What an on-call operator reads first, and how the commands behave in a pipe (pure)."""

from __future__ import annotations

import io
from typing import Any

import pytest

from infra import thresholds
from operations import cli, status
from operations.export import sidep_answers


class ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError


def test_a_closed_pipe_ends_the_output_quietly_and_the_command_goes_on() -> None:
    out = cli.Output(as_json=False, stream=ClosedPipe())
    out.line("first")
    out.table(["a"], [["1"]])
    out.line("more")
    assert out.closed


def test_verbose_progress_is_one_line_a_step_on_a_stream_that_is_not_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(cli, "_verbose", 1)
    with cli.progress("reading", stream=stream) as bar:
        bar.advance(1, "the export queue")
    assert stream.getvalue().splitlines() == ["reading", "reading: the export queue"]
    quiet = io.StringIO()
    monkeypatch.setattr(cli, "_verbose", 0)
    with cli.progress("reading", stream=quiet) as bar:
        bar.advance(1, "x")
    assert quiet.getvalue() == ""


def test_a_failing_spell_starts_at_the_first_failed_batch_and_ends_with_the_first_answer() -> None:
    first = sidep_answers({}, {"batches_failed": 1, "last_error": "tls error"}, "T1")
    assert first["failing"]["since"] == "T1" and first["failing"]["category"] == "tls"
    idle = sidep_answers(first, {"leased": 0}, "T2")
    assert idle == first
    again = sidep_answers(
        first, {"batches_failed": 2, "last_error": "http 429", "retry_after_seconds": 30}, "T3"
    )
    assert again["failing"]["since"] == "T1" and again["failing"]["category"] == "throttled"
    assert again["failing"]["retry_after_seconds"] == 30
    answered = sidep_answers(again, {"acknowledged": 3, "rejected": 1, "last_answered_batch": "B9"}, "T4")
    assert answered == {
        "last_acknowledged": {"at": "T4", "batch_id": "B9"},
        "failing": None,
        "last_rejected": {"at": "T4", "records": 1},
    }


def base(**sidep: Any) -> dict[str, Any]:
    waiting = {"queued": 0, "sending": 0, "retrying": 0, "rejected": 0, "dead_letters": 0}
    return {
        "sidep": {
            "last_acknowledged": {"at": "2026-12-06T21:00:00Z", "batch_id": "B1"},
            "last_acknowledged_age_seconds": 12.0,
            "failing": None,
            "failing_for_seconds": None,
            "alarm_after_seconds": thresholds.SIDEP_FAILING_SECONDS,
            "waiting": {**waiting, **sidep.pop("waiting", {})},
            "retrying_errors": {},
            "oldest_unacknowledged_age_seconds": None,
            "last_rejected_age_seconds": None,
            **sidep,
        },
        "dead_letters": {"records": 0, "scheduled_runs": None},
        "rejected": [],
        "last_export_run": None,
        "audit_chains": [],
        "retention": {"unacknowledged_near_cap": []},
        "quarantined": {},
    }


def test_sidep_failing_comes_first_naming_the_category_and_the_waiting_count() -> None:
    found = base(
        failing={"since": "2026-12-06T21:00:00Z", "category": "tls", "error": "tls error"},
        failing_for_seconds=400.0,
        waiting={"retrying": 3},
        rejected=[],
    )
    found["dead_letters"]["records"] = 1
    found["attention"] = status.attention(found)
    first = status.verdict(found)
    assert first.startswith("needs attention: SI-DEP is failing (tls) for 6m (alarm)")
    assert "3 record(s) waiting to retry" in first and "+1 more" in first


def test_records_left_in_backoff_after_the_outage_name_make_retry() -> None:
    found = base(waiting={"retrying": 2}, retrying_errors={"unreachable": 2})
    found["attention"] = status.attention(found)
    assert "make retry" in found["attention"][0] and "unreachable" in found["attention"][0]


def test_rejections_are_named_by_code_and_pharmacy() -> None:
    found = base(last_rejected_age_seconds=10.0)
    found["rejected"] = [
        {"finess": "750000010", "code": "207", "category": "application internal error", "records": 2}
    ]
    found["attention"] = status.attention(found)
    assert found["attention"] == [
        "2 record(s) rejected by SI-DEP, for their pharmacy to correct: "
        "207 application internal error x2 (750000010)"
    ]


def test_a_rejection_older_than_the_alarms_window_is_listed_but_holds_status_at_0_no_longer() -> None:
    found = base(last_rejected_age_seconds=float(thresholds.REJECTIONS_WINDOW_SECONDS))
    found["rejected"] = [
        {"finess": "750000010", "code": "101", "category": "required field missing", "records": 1}
    ]
    assert status.attention(found) == []
    found["attention"], found["verdict"] = [], "healthy"
    found.update(
        target="t", now="n", export_queue={"total": 0, "oldest_due_age_seconds": None, "by_state": {}}
    )
    found["retention"]["alarm_days"] = 3
    shown = io.StringIO()
    status.show(found, cli.Output(as_json=False, stream=shown))
    assert "rejected: 750000010: 101 required field missing: 1 record(s)" in shown.getvalue()


def test_healthy_names_the_last_acknowledged_batch_and_how_long_ago() -> None:
    found = base()
    found["attention"] = status.attention(found)
    assert status.verdict(found) == "healthy: SI-DEP acknowledged batch B1 12s ago; nothing needs attention"


def test_thresholds_past_the_alarm_need_attention() -> None:
    found = base(oldest_unacknowledged_age_seconds=float(thresholds.OLDEST_UNACKNOWLEDGED_SECONDS))
    found["audit_chains"] = [
        {"chain": "750000010", "stale": False, "worm_lag_seconds": float(thresholds.WORM_LAG_SECONDS)}
    ]
    found["quarantined"] = {"journal": 1}
    reasons = status.attention(found)
    assert [r.split(" ")[:3] for r in reasons] == [
        ["the", "oldest", "result"],
        ["the", "WORM", "copy"],
        ["1", "journal", "item(s)"],
    ]


def test_healthy_never_says_nothing_waits_while_records_are_on_their_way() -> None:
    # an export that never ran yet (or stopped) under the alarm's threshold: the verdict said
    # "nothing waits for SI-DEP" with three results queued for two minutes
    found = base(
        last_acknowledged=None,
        last_acknowledged_age_seconds=None,
        waiting={"queued": 2, "sending": 1},
        oldest_unacknowledged_age_seconds=120.0,
    )
    found["attention"] = status.attention(found)
    first = status.verdict(found)
    assert first.startswith("healthy: ") and "nothing waits" not in first
    assert "3 record(s) on their way to SI-DEP" in first and "2m" in first
