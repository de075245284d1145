"""Every AWS call gives up in time: PynamoDB, boto3 and the encryption SDK's KMS client share one
timeout and retry policy (chalicelib/adapters/aws.py), tested against a stalled endpoint (a local
socket that accepts connections and never answers), and the API answers 503, not a gateway timeout."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import botocore.exceptions
import pytest
from pynamodb.exceptions import PynamoDBException

from chalicelib import bootstrap
from chalicelib.adapters.aws import client_config, configured_botocore_session
from chalicelib.adapters.dynamodb.errors import dynamodb_errors
from chalicelib.adapters.dynamodb.models import RecordModel
from chalicelib.bootstrap import aws_calls, bind_tables
from chalicelib.config import Settings, load_settings
from chalicelib.domain.errors import ServiceUnavailable

API_GATEWAY_TIMEOUT_SECONDS = 29
# botocore standard mode: the n-th retry waits at most min(20, 2 ** (n - 1)) seconds.
STANDARD_MAX_BACKOFF_SECONDS = 20


class StalledEndpoint:
    """Accepts every connection, reads what comes, never answers; counts the connections."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port = self._server.getsockname()[1]
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._server.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            self._held.append(connection)  # kept open, never written to

    def __enter__(self) -> StalledEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for connection in self._held:
            connection.close()
        self._server.close()


@pytest.fixture
def stalled() -> Iterator[StalledEndpoint]:
    with StalledEndpoint() as endpoint:
        yield endpoint


FAST: dict[str, Any] = {"aws_connect_timeout_seconds": 1, "aws_read_timeout_seconds": 1}


def _settings(endpoint: str | None, **overrides: Any) -> Settings:
    return replace(load_settings({"AWS_DEFAULT_REGION": "eu-west-3"}), aws_endpoint_url=endpoint, **overrides)


def test_the_defaults_give_up_well_before_api_gateway_does() -> None:
    s = load_settings({"AWS_DEFAULT_REGION": "eu-west-3"})
    backoff = sum(min(STANDARD_MAX_BACKOFF_SECONDS, 2 ** (n - 1)) for n in range(1, s.aws_max_attempts))
    worst = s.aws_max_attempts * (s.aws_connect_timeout_seconds + s.aws_read_timeout_seconds) + backoff
    assert worst < API_GATEWAY_TIMEOUT_SECONDS - 5, worst


def test_pynamodb_uses_the_same_timeouts_and_retry_mode_as_boto3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    settings = _settings(None)
    bind_tables(settings)
    try:
        pynamodb_config = RecordModel._get_connection().connection.client.meta.config
    finally:
        bind_tables(load_settings())
    boto3_config = (
        boto3.Session(region_name="eu-west-3")
        .client("dynamodb", config=client_config(aws_calls(settings)))
        .meta.config
    )
    kms_config = (
        configured_botocore_session(aws_calls(settings))
        .create_client("kms", region_name="eu-west-3")
        .meta.config
    )
    configs: tuple[Any, ...] = (
        pynamodb_config,
        boto3_config,
        kms_config,
    )  # botocore's Config: untyped attributes
    for config in configs:
        assert (config.connect_timeout, config.read_timeout) == (2, 4)
        assert config.retries["mode"] == "standard"
        assert config.retries["total_max_attempts"] == settings.aws_max_attempts == 3


def test_a_stalled_dynamodb_costs_the_same_bounded_attempts_through_pynamodb_and_boto3(
    stalled: StalledEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    settings = _settings(stalled.url, **FAST)
    bind_tables(settings)
    try:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable), dynamodb_errors():
            RecordModel.get("750000010", "r-1")
        elapsed = time.monotonic() - started
    finally:
        bind_tables(load_settings())
    through_pynamodb = stalled.accepted
    assert through_pynamodb == settings.aws_max_attempts
    assert elapsed < settings.aws_max_attempts * 1 + 1 + 2 + 2  # timeouts + backoff + slack

    client = boto3.Session(region_name="eu-west-3").client(
        "dynamodb", endpoint_url=stalled.url, config=client_config(aws_calls(settings))
    )
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        client.get_item(TableName="t", Key={"k": {"S": "v"}})
    assert stalled.accepted - through_pynamodb == through_pynamodb


def test_a_stalled_pynamodb_error_is_unavailable_not_a_500() -> None:

    cause = botocore.exceptions.ReadTimeoutError(endpoint_url="http://x")
    with pytest.raises(ServiceUnavailable), dynamodb_errors():
        raise PynamoDBException("Failed to get item", cause)


def test_the_api_answers_503_when_dynamodb_stalls(
    world: Any, stalled: StalledEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    from testkit.patients import screening_body

    settings = replace(bootstrap.get_container().settings, aws_endpoint_url=stalled.url, **FAST)
    bind_tables(settings)  # the tables now sit behind an endpoint that never answers
    try:
        started = time.monotonic()
        response = world.call("POST", "/v1/tests", "pharmacist-a", screening_body(0))
        elapsed = time.monotonic() - started
    finally:
        bind_tables(bootstrap.get_container().settings)
    assert response.status_code == 503, response.body
    assert response.headers["Content-Type"] == "application/problem+json"
    assert elapsed < API_GATEWAY_TIMEOUT_SECONDS
    assert stalled.accepted >= 1
