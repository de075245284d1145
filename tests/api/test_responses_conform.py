"""The world fixture checks every JSON answer against the document (tests/openapi_conformance.py):
the check itself catches a body that strays from its declaration."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from tests.conftest import World
from tests.openapi_conformance import check


def _response(status: int, body: Any, content_type: str = "application/json") -> Any:
    return SimpleNamespace(status_code=status, headers={"Content-Type": content_type}, body=json.dumps(body))


def test_a_served_record_conforms_and_a_changed_one_does_not(world: World) -> None:
    from testkit.patients import screening_body

    created = world.call("POST", "/v1/tests", "pharmacist-a", screening_body(0))  # checked on the way
    assert created.status_code == 201, created.body
    record = json.loads(created.body)
    check("get", f"/v1/tests/{record['id']}", _response(200, record))
    for strayed in (
        {key: value for key, value in record.items() if key != "day"},  # a required field missing
        {**record, "extra": 1},  # an undeclared field
        {**record, "status": "lost"},  # outside the enum
        {**record, "test": {**record["test"], "result": 3}},  # a nested type
    ):
        with pytest.raises(AssertionError, match="not the declared one"):
            check("get", f"/v1/tests/{record['id']}", _response(200, strayed))


def test_a_problem_is_checked_against_the_problem_schema() -> None:
    check(
        "get",
        "/v1/tests",
        _response(
            400,
            {
                "type": "tag:depistage.fr,2026:problems/validation-failed",
                "title": "t",
                "status": 400,
                "detail": "d",
            },
        ),
    )
    with pytest.raises(AssertionError, match="not the declared one"):
        check("get", "/v1/tests", _response(400, {"title": "t", "status": 400}, "application/problem+json"))
