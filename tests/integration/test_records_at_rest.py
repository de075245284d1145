"""No personal value rests in DynamoDB in clear; blobs cannot be moved between records or pharmacies."""

from __future__ import annotations

import json
from typing import Any

import boto3

from testkit.patients import PATIENTS, personal_needles, screening_body
from tests.conftest import World


def raw_items() -> list[dict[str, Any]]:
    ddb = boto3.client("dynamodb")
    items: list[dict[str, Any]] = []
    for table in ddb.list_tables()["TableNames"]:
        items += ddb.scan(TableName=table)["Items"]
    return items


def test_a_scan_of_every_table_finds_no_personal_value(world: World) -> None:
    for i in range(len(PATIENTS)):
        for key in (None, f"00000000-0000-4000-8000-00000000000{i}"):
            extra = {"Idempotency-Key": key} if key else {}
            assert (
                world.call("POST", "/v1/tests", "pharmacist-a", screening_body(i), **extra).status_code == 201
            )
    dump = json.dumps(raw_items(), default=str)
    normalised = {"+33698765432", "+33495123456"}  # E.164 forms the service stores for the patients' phones
    for needle in [*personal_needles(), *normalised]:
        assert needle not in dump, "a personal value rests in clear"
        assert needle.lower() not in dump.lower()


def test_a_blob_swapped_between_records_or_pharmacies_fails_to_decrypt(world: World) -> None:
    from chalicelib.adapters.dynamodb.models import RecordModel

    a1 = json.loads(world.call("POST", "/v1/tests", "pharmacist-a", screening_body(0)).body)["id"]
    a2 = json.loads(world.call("POST", "/v1/tests", "pharmacist-a", screening_body(1)).body)["id"]
    b1 = json.loads(world.call("POST", "/v1/tests", "pharmacist-b", screening_body(2)).body)["id"]
    item_a1 = next(i for i in RecordModel.scan() if i.record_id == a1)
    item_a2 = next(i for i in RecordModel.scan() if i.record_id == a2)
    item_b1 = next(i for i in RecordModel.scan() if i.record_id == b1)
    item_a2.update(actions=[RecordModel.personal.set(item_a1.personal)])  # same pharmacy, other record
    item_b1.update(actions=[RecordModel.personal.set(item_a1.personal)])  # other pharmacy
    for user, record_id in (("pharmacist-a", a2), ("pharmacist-b", b1)):
        response = world.call("GET", f"/v1/tests/{record_id}", user)
        assert response.status_code == 500
        problem = json.loads(response.body)
        assert problem["title"] == "Integrity check failed"
        assert "Dupont" not in response.body.decode()
    assert world.call("GET", f"/v1/tests/{a1}", "pharmacist-a").status_code == 200
