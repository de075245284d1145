"""The refresh command of docs/france.md "The test device" (devtools/reference_data.py devices)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.domain.devices import SNAPSHOT
from devtools import reference_data


def test_refreshing_from_the_snapshot_s_own_value_set_rewrites_it_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    out = tmp_path / "devices.json"
    monkeypatch.setattr(reference_data, "DEVICES_FILE", out)
    code = reference_data.main(
        ["devices", str(SNAPSHOT), "--fetched", shipped["fetched"], "--origin", shipped["source"]]
    )
    assert code == 0
    assert out.read_text(encoding="utf-8") == SNAPSHOT.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "change",
    [
        {"valueSetId": "covid-19-lab-result"},
        {"valueSetValues": {"12a": {"display": "x", "active": True, "version": "2021-07-01"}}},
        {"valueSetValues": {"1232": {"display": "x", "active": "yes", "version": "2021-07-01"}}},
        {"valueSetValues": {"1232": {"display": "", "active": True, "version": "2021-07-01"}}},
        {"valueSetValues": {"1232": {"display": "x", "active": True}}},
    ],
)
def test_a_value_set_that_is_not_the_device_list_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict[str, object]
) -> None:
    source = tmp_path / "value-set.json"
    source.write_text(json.dumps({**json.loads(SNAPSHOT.read_text(encoding="utf-8")), **change}))
    out = tmp_path / "devices.json"
    monkeypatch.setattr(reference_data, "DEVICES_FILE", out)
    with pytest.raises(SystemExit):
        reference_data.main(["devices", str(source), "--fetched", "2026-12-01", "--origin", "test"])
    assert not out.exists()
