"""Pro Santé Connect in the tests: the fake PSC (devtools/fake_psc.py) in-process, its identities,
and an app wired to it with a clock the test moves (so that intervals and expiries take no time)."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from chalicelib.domain.model import Role
from chalicelib.domain.psc import psc_username
from chalicelib.ports import Membership
from devtools.fake_psc import DIRECTORY_PATH, FakePsc
from testkit.fakes import FixedClock
from tests.conftest import PHARMACY_A, PHARMACY_B, World

INTERVAL = 5  # what every start answers (services/psc_login.PscLoginPolicy); PSC's own is 1 here


def identity(
    national_id: str, code: str = "21", finess: tuple[str, ...] = (PHARMACY_A,), **extra: Any
) -> dict[str, Any]:
    return {
        "national_id": national_id,
        "rpps": national_id[1:],
        "given_name": "Camille",
        "family_name": "Martin",
        "professions": [{"code": code, "finess": list(finess)}],
        **extra,
    }


PHARMACIST_A = "810000000001"  # a pharmacist at A, invited by A
ELSEWHERE = "810000000002"  # invited by A, the directory says B
DOCTOR = "810000000003"  # invited by A, profession 10 (médecin) at A
DECLINES = "810000000004"  # declines on the e-CPS
FAULTY = "810000000005"  # PSC answers with the faults a test sets
UNKNOWN_TO_PSC = "810000000009"  # invited by A, unknown to PSC
PHARMACIST_B = "810000000011"  # a pharmacist at B

IDENTITIES = [
    identity(PHARMACIST_A),
    identity(ELSEWHERE, finess=(PHARMACY_B,)),
    identity(DOCTOR, code="10"),
    identity(DECLINES, declines=True),
    identity(FAULTY),
    identity(PHARMACIST_B, finess=(PHARMACY_B,)),
]
MEMBERS = {
    PHARMACIST_A: PHARMACY_A,
    ELSEWHERE: PHARMACY_A,
    DOCTOR: PHARMACY_A,
    DECLINES: PHARMACY_A,
    FAULTY: PHARMACY_A,
    UNKNOWN_TO_PSC: PHARMACY_A,
    PHARMACIST_B: PHARMACY_B,
}


@dataclass
class PscWorld:
    world: World
    fake: FakePsc
    clock: FixedClock

    def start(self, national_id: str) -> Any:
        return self.world.call("POST", "/v1/psc/logins", None, {"national_id": national_id})

    def poll(self, login_id: str) -> Any:
        return self.world.call("POST", f"/v1/psc/logins/{login_id}/token", None)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds=seconds)

    def login(self, national_id: str) -> Any:
        """Start, approve on the e-CPS the push showing the app's code, poll: the poll's response."""
        started = self.start(national_id)
        assert started.status_code == 201, started.body
        body = json.loads(started.body)
        self.fake.approve(national_id, body["binding_message"])
        self.advance(INTERVAL)
        return self.poll(body["login_id"])

    def token(self, national_id: str) -> str:
        response = self.login(national_id)
        assert response.status_code == 200, response.body
        return str(json.loads(response.body)["access_token"])

    def call(self, method: str, path: str, token: str, body: object = None) -> Any:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        raw = json.dumps(body) if body is not None else None
        return getattr(self.world.client.http, method.lower())(path, headers=headers, body=raw)

    def set_identity(self, national_id: str, **changes: Any) -> None:
        for entry in self.fake.identities:
            if entry["national_id"] == national_id:
                entry.update(changes)


@pytest.fixture
def psc(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[PscWorld]:
    from chalicelib import bootstrap
    from chalicelib.config import get_settings

    secret = boto3.client("secretsmanager").get_secret_value(SecretId=world.env["PSC_CLIENT_SECRET_ID"])
    # A minute behind real time: tokens stamped by the moved clock are never "not yet valid".
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=60))
    fake = FakePsc(
        client_id=world.env["PSC_CLIENT_ID"],
        client_secret=secret["SecretString"],
        identities=copy.deepcopy(IDENTITIES),
        interval_seconds=1,
        expires_in_seconds=120,
        clock=lambda: clock.moment.timestamp(),
    )
    fake.serve()
    monkeypatch.setenv("PSC_DISCOVERY_URL", fake.discovery_url)
    monkeypatch.setenv("PSC_DIRECTORY_URL", f"{fake.base_url}{DIRECTORY_PATH}")
    get_settings.cache_clear()
    bootstrap.reset()
    container = bootstrap.build(get_settings(), clock=clock)
    # A start that leads nowhere pads its answer time (services/psc_login.PscLatency): not on this
    # clock, and not a real wait in these tests (tests/security/test_psc_login_attacks.py times it).
    bootstrap._container = dataclasses.replace(
        container, psc=dataclasses.replace(container.psc, sleep=lambda seconds: None)
    )
    memberships = bootstrap._container.memberships
    for national_id, finess in MEMBERS.items():
        memberships.add(
            Membership(
                username=psc_username(national_id),
                role=Role.PHARMACIST,
                finess=finess,
                national_id=national_id,
            ),
            created_by="tests",
        )
    try:
        yield PscWorld(world, fake, clock)
    finally:
        fake.stop()
