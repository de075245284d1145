"""Suite-wide fixtures: fake AWS credentials, global state reset, a provisioned moto account."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.dynamodb.models import bind_models
from chalicelib.config import get_settings

_APP_ENV = (
    "AWS_ENDPOINT_URL",
    "DATA_KEY_ID",
    "BLIND_INDEX_KEY_ID",
    "AUDIT_KEY_ID",
    "USER_POOL_ID",
    "APP_CLIENT_IDS",
    "JWKS_URL",
    "SIDEP_URL",
)


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
        from chalicelib.devtools.provision import provision

        env = provision(boto3.Session(region_name="eu-west-3"))
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        _reset_process_state()
        bind_models(get_settings())
        yield env
        _reset_process_state()


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-3")
