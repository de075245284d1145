"""`python -m operations.purge`: the JSON report, the dry run, --now."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from chalicelib.adapters.dynamodb.models import RecordModel
from chalicelib.domain.model import Principal, Role
from chalicelib.domain.pharmacy_day import PARIS, local_day
from chalicelib.ports import RequestMeta
from chalicelib.services import records
from chalicelib.services.call import Call
from operations import purge as cli
from testkit.fakes import create_command
from testkit.patients import screening_body


def test_dry_run_as_of_the_cap_reports_and_a_real_run_now_erases_nothing(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from chalicelib.bootstrap import get_container

    caller = Principal("pharmacist-a", Role.PHARMACIST, "750000010")
    record, _ = records.create_record(
        get_container().records,
        Call(caller, RequestMeta()),
        create_command(get_container().records, screening_body(0, None)),
    )
    # the pharmacy's day counts the retention (a record made at 23:30 UTC is made the next day in Paris)
    created = local_day(record.created_at, PARIS)

    cap = created + timedelta(days=90)
    # exit 1: it needs attention, SI-DEP never acknowledged it
    assert cli.main(["--dry-run", "--now", f"{cap.isoformat()}T03:00:00Z", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] is True and report["erased"]["hard_cap"] == [record.id]
    assert report["counts"]["erased"] == 1
    assert RecordModel.get("750000010", record.id).personal is not None

    assert cli.main(["--json"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["erased"] == 0
    assert RecordModel.get("750000010", record.id).personal is not None


def test_a_real_run_in_the_future_is_refused(aws: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--now", "2099-01-01T00:00:00Z"]) == 2
    assert "--dry-run only" in capsys.readouterr().err
