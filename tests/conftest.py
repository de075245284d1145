"""Suite-wide fixtures: fake AWS credentials, global state reset, a provisioned moto account."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.bootstrap import bind_tables
from chalicelib.config import get_settings
from devtools import moto_atomic
from tests.layout import folder_of

if TYPE_CHECKING:
    from chalice.test import Client, HTTPResponse

# moto's DynamoDB isolated as DynamoDB's own (a failed transaction undoes no other writer's work).
moto_atomic.install()

# The log scanner: any log record carrying a test patient's personal value fails the run.
pytest_plugins = ["tests.logscan", "tests.psc"]

_APP_ENV = (
    "AWS_ENDPOINT_URL",
    "DATA_KEY_ID",
    "BLIND_INDEX_KEY_ID",
    "AUDIT_KEY_ID",
    "AUDIT_WORM_BUCKET",
    "USER_POOL_ID",
    "APP_CLIENT_IDS",
    "JWKS_URL",
    "SIDEP_URL",
    "SESSION_KEY_ID",
    "PSC_DISCOVERY_URL",
    "PSC_DIRECTORY_URL",
    "PSC_DIRECTORY_API_KEY_SECRET_ID",
    "PSC_CLIENT_ID",
    "PSC_CLIENT_SECRET_ID",
)


@pytest.fixture(scope="session", autouse=True)
def shared_botocore_models() -> Iterator[None]:
    """Parse each AWS service model once per test process, not once per boto3 session.

    Every test builds fresh sessions (moto state, bootstrap); re-reading botocore's JSON models
    for each one dominated the suite's time. Test-only: the service builds its clients once.
    """
    import botocore.loaders

    cache: dict[tuple[object, ...], object] = {}
    originals = {
        name: getattr(botocore.loaders.Loader, name) for name in ("load_service_model", "load_data_with_path")
    }

    def cached(name: str) -> object:
        original = originals[name]

        def wrapper(self: object, *args: object, **kwargs: object) -> object:
            key = (name, *args, *sorted(kwargs.items()))
            if key not in cache:
                cache[key] = original(self, *args, **kwargs)
            return cache[key]

        return wrapper

    for name in originals:
        setattr(botocore.loaders.Loader, name, cached(name))
    yield
    for name, original in originals.items():
        setattr(botocore.loaders.Loader, name, original)


@pytest.fixture(scope="session", autouse=True)
def cheap_moto_symmetric_keys() -> Iterator[None]:
    """moto makes an RSA-2048 private key for every KMS key, even symmetric and HMAC ones that never
    use it (0.1 s each). Share one for those specs, and one for the RSA_2048 session signing key
    that every provisioned account has (tests never rely on two accounts' keys differing: forged
    tokens are signed with keys made outside KMS); other asymmetric specs still get their own."""
    import moto.kms.models

    original: Any = moto.kms.models.generate_private_key  # type: ignore[attr-defined]
    shared: dict[str, object] = {}

    def generate(key_spec: str) -> Any:
        if key_spec in ("SYMMETRIC_DEFAULT", "RSA_2048") or key_spec.startswith("HMAC_"):
            if key_spec not in shared:
                shared[key_spec] = original(key_spec)
            return shared[key_spec]
        return original(key_spec)

    moto.kms.models.generate_private_key = generate  # type: ignore[attr-defined]
    yield
    moto.kms.models.generate_private_key = original  # type: ignore[attr-defined]


def _reset_process_state() -> None:
    get_settings.cache_clear()
    try:
        from chalicelib import bootstrap
    except ImportError:
        return
    reset = getattr(bootstrap, "reset", None)
    if reset is not None:
        reset()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test runs with fake credentials in eu-west-3 and no real endpoint."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "1")
    # Operator commands must not find a developer's `make run` (.local/stack.json) from a test.
    monkeypatch.setattr("operations.target.DEFAULT_STACK_FILE", Path("/nonexistent/.local/stack.json"))
    for name in _APP_ENV:
        monkeypatch.delenv(name, raising=False)
    _reset_process_state()
    yield
    _reset_process_state()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A moto account (in-process) with keys, tables and the user pool provisioned; yields the app env."""
    monkeypatch.setenv("MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP", "true")
    with mock_aws():
        from devtools.provision import provision

        env = provision(boto3.Session(region_name="eu-west-3"))
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        _reset_process_state()
        bind_tables(get_settings())
        yield env
        _reset_process_state()


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-3")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test's marker is its folder's, given here and nowhere else, so the two cannot disagree.
    for item in items:
        item.add_marker(folder_of(Path(item.path)))


PHARMACY_A = "750000010"  # the local stack's seeds (devtools/seed.py)
PHARMACY_B = "130000029"
USERS = {
    "pharmacist-a": ("pharmacist", PHARMACY_A),
    "admin-a": ("pharmacy_admin", PHARMACY_A),
    "pharmacist-b": ("pharmacist", PHARMACY_B),
    "admin-b": ("pharmacy_admin", PHARMACY_B),
    "operator": ("platform_admin", None),
}


class World:
    """The app behind the Chalice test client, two pharmacies and their members, tokens on demand."""

    def __init__(self, client: Client, env: dict[str, str]) -> None:
        self.client = client
        self.env = env
        self.pool_id = env["USER_POOL_ID"]
        self.client_id = env["APP_CLIENT_IDS"].split(",")[0]

    def token(self, username: str, **overrides: object) -> str:
        from testkit.tokens import access_token

        return access_token(self.pool_id, self.client_id, username, **overrides)

    def headers(self, username: str | None, **extra: str) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if username:
            headers["Authorization"] = f"Bearer {self.token(username)}"
        headers.update(extra)
        return headers

    def call(
        self, method: str, path: str, username: str | None, body: object = None, **headers: str
    ) -> HTTPResponse:
        import json

        raw: Any = json.dumps(body) if body is not None else None  # what the event's body is: str or None
        return self.client.http.request(
            method.upper(), path, headers=self.headers(username, **headers), body=raw
        )


@pytest.fixture
def world(aws: dict[str, str]) -> Iterator[World]:
    from chalice.test import Client

    from app import app
    from chalicelib.adapters.clock import SystemClock
    from chalicelib.adapters.dynamodb.directory import DynamoDbMemberships, DynamoDbPharmacies
    from chalicelib.domain.model import Role
    from chalicelib.ports import Membership

    clock = SystemClock()
    pharmacies = DynamoDbPharmacies(clock)
    for finess in (PHARMACY_A, PHARMACY_B):
        pharmacies.add(finess, f"Pharmacie {finess}", created_by="tests")
    members = DynamoDbMemberships(clock)
    for username, (role, pharmacy) in USERS.items():
        members.add(Membership(username=username, role=Role(role), finess=pharmacy), created_by="tests")
    from tests.openapi_conformance import checked

    with Client(app) as client:  # every answer is checked against the OpenAPI document
        yield World(checked(client), aws)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """The whole local stack (what `make run` starts) as processes, once per test process.

    Tests using it are marked `xdist_group("stack")` so that one worker runs them all on one stack.
    """
    from testkit import harness

    with harness.running(tmp_path_factory.mktemp("local-stack") / "state") as info:
        yield info
