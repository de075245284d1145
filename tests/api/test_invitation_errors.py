"""An invitation refused as invalid names the field in error: a 400 always says which field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import PHARMACY_A, World


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "pharmacist", "national_id": None}, "national_id"),
        ({"role": "pharmacist", "rpps": None}, "rpps"),
    ],
)
def test_an_invitation_with_a_null_identifier_is_a_400_naming_it(
    world: World, body: dict[str, Any], field: str
) -> None:
    response = world.call("POST", f"/v1/admin/pharmacies/{PHARMACY_A}/members", "admin-a", body)
    assert response.status_code == 400, response.body
    errors = json.loads(response.body)["errors"]
    assert [error["field"] for error in errors] == [field]
