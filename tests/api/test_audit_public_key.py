"""GET /v1/audit/public-key: the key that verifies the journal's checkpoints, for pharmacy admins."""

from __future__ import annotations

import json

import boto3
import pytest

from chalicelib.adapters.audit_key import public_key_verifier
from chalicelib.adapters.clock import SystemClock
from chalicelib.adapters.dynamodb.audit_checkpointer import DynamoDbCheckpointer, KmsSigner
from chalicelib.adapters.dynamodb.audit_items import checkpoint_from_item, checkpoint_items
from chalicelib.adapters.dynamodb.models import AuditEventModel
from chalicelib.config import get_settings
from chalicelib.domain.audit_checkpoints import checkpoint_message
from tests.conftest import PHARMACY_A, World


def test_before_the_first_checkpoint_run_the_key_is_not_published(world: World) -> None:
    response = world.call("GET", "/v1/audit/public-key", "admin-a")
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"


def test_a_pharmacy_admin_gets_the_key_that_verifies_its_checkpoints(world: World) -> None:
    signer = DynamoDbCheckpointer(
        signer=KmsSigner(boto3.client("kms"), get_settings().audit_key_id), clock=SystemClock()
    )
    world.call("GET", "/v1/audit", "admin-a")  # one event on the chain
    signer.checkpoint_all([PHARMACY_A])
    response = world.call("GET", "/v1/audit/public-key", "admin-a")
    assert response.status_code == 200
    body = json.loads(response.body)
    assert body["algorithm"] == "ECDSA_SHA_256" and len(body["fingerprint"]) == 64
    verify = public_key_verifier(body["public_key_pem"].encode())
    (cp,) = [checkpoint_from_item(item) for item in checkpoint_items(PHARMACY_A)]
    assert verify(checkpoint_message(cp), cp.signature)
    actions = [e.event["action"] for e in AuditEventModel.query(PHARMACY_A)]
    assert actions[-1] == "read_audit_public_key"


@pytest.mark.parametrize("username", ["pharmacist-a", "operator"])
def test_other_roles_are_refused(world: World, username: str) -> None:
    assert world.call("GET", "/v1/audit/public-key", username).status_code == 403
    assert world.call("GET", "/v1/audit/public-key", None).status_code == 401
