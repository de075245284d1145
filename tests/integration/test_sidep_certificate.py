"""The SI-DEP client certificate comes from Secrets Manager (moto): the export's TLS context is built
from the secret's value, written 0600 for OpenSSL, rotated without a redeploy, never logged, and a
missing certificate stops the run before any record spends an attempt."""

from __future__ import annotations

import json
import logging
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters import SecretsProvider

from chalicelib.adapters.sidep.credentials import CredentialsError, SecretTlsFiles
from chalicelib.domain.model import DeliveryState
from chalicelib.services.export import Exporter
from devtools.fake_sidep import FakeSidep
from devtools.provision import SIDEP_TLS_SECRET_NAME, put_sidep_certificate
from testkit.export_support import load, seed
from testkit.fakes import FixedClock


@pytest.fixture
def lambda_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The Lambda's temporary directory (/tmp there): where the certificate files go."""
    directory = tmp_path / "lambda-tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


@pytest.fixture
def secret_env(
    aws: dict[str, str], sidep: FakeSidep, lambda_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    env = put_sidep_certificate(
        boto3.client("secretsmanager"), sidep.certs.ca, sidep.certs.client_cert, sidep.certs.client_key
    )
    monkeypatch.setenv("SIDEP_URL", sidep.url)
    monkeypatch.setenv("EXPORT_MAX_ATTEMPTS", "3")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from chalicelib.config import get_settings

    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


def _pem_files(root: Path) -> list[Path]:
    return sorted(root.glob("sidep-tls-*/*/*.pem"))


def _exporter() -> Exporter:
    from chalicelib import bootstrap
    from chalicelib.config import get_settings

    return bootstrap.build_exporter(get_settings())


def test_the_export_builds_its_tls_context_from_the_secret_and_the_files_are_0600(
    secret_env: dict[str, str], sidep: FakeSidep, lambda_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from chalicelib import bootstrap

    records = seed(3, FixedClock(), bootstrap.get_container().records.cipher)
    caplog.set_level(logging.INFO)  # the level the Lambda logs at (POWERTOOLS_LOG_LEVEL)
    summary = _exporter().run(60.0)

    assert summary.acknowledged == 3 and len(sidep.ledger()) == 3  # mutual TLS with the secret's pair
    assert all(load(r).delivery.state is DeliveryState.ACKNOWLEDGED for r in records)
    files = _pem_files(lambda_tmp)
    assert {f.name for f in files} == {"ca.pem", "client.pem", "client-key.pem"}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    key_file = next(f for f in files if f.name == "client-key.pem")
    assert key_file.read_text() == sidep.certs.client_key.read_text()
    # the key never reaches a log line (its PEM body, or any part of it)
    key_body = "".join(key_file.read_text().splitlines()[1:-1])
    logged = "\n".join(r.getMessage() + json.dumps(r.__dict__, default=str) for r in caplog.records)
    assert "PRIVATE KEY" not in logged and key_body[:40] not in logged


def test_a_rotated_certificate_is_picked_up_without_a_redeploy(
    secret_env: dict[str, str], sidep: FakeSidep, lambda_tmp: Path, tmp_path: Path
) -> None:
    client = boto3.client("secretsmanager")
    files = SecretTlsFiles(SecretsProvider(boto3_client=client), secret_env["SIDEP_TLS_SECRET_ID"], 0)
    first = files()
    assert files() == first  # same value: same files, nothing rewritten
    with FakeSidep(tmp_path / "renewed") as renewed:  # another CA, another client certificate
        put_sidep_certificate(client, renewed.certs.ca, renewed.certs.client_cert, renewed.certs.client_key)
        second = files()
        assert second != first
        assert Path(second.client_cert_file).read_text() == renewed.certs.client_cert.read_text()
        assert not Path(first.client_key_file).exists()  # the old key does not linger in /tmp
        assert len(_pem_files(lambda_tmp)) == 3


def test_with_a_cached_value_the_rotation_waits_for_max_age(
    secret_env: dict[str, str], sidep: FakeSidep, tmp_path: Path
) -> None:
    client = boto3.client("secretsmanager")
    files = SecretTlsFiles(SecretsProvider(boto3_client=client), secret_env["SIDEP_TLS_SECRET_ID"], 3600)
    first = files()
    with FakeSidep(tmp_path / "renewed") as renewed:
        put_sidep_certificate(client, renewed.certs.ca, renewed.certs.client_cert, renewed.certs.client_key)
        assert files() == first  # one GetSecretValue per max_age, not per batch


@pytest.mark.parametrize(
    "value",
    [
        "not json -----BEGIN PRIVATE KEY----- secret",  # pragma: allowlist secret
        json.dumps({"certificate": "-----BEGIN CERTIFICATE-----x", "ca_bundle": "c"}),
        json.dumps(
            {
                "certificate": "x",
                "private_key": "-----BEGIN PRIVATE KEY----- y",  # pragma: allowlist secret
                "ca_bundle": "c",
            }
        ),
    ],
)
def test_a_broken_secret_stops_the_run_before_any_record_is_touched_and_quotes_nothing(
    secret_env: dict[str, str], sidep: FakeSidep, value: str
) -> None:
    from chalicelib import bootstrap

    boto3.client("secretsmanager").put_secret_value(SecretId=SIDEP_TLS_SECRET_NAME, SecretString=value)
    records = seed(2, FixedClock(), bootstrap.get_container().records.cipher)
    with pytest.raises(CredentialsError) as caught:
        _exporter().run(60.0)
    assert "secret" in str(caught.value) and "y" not in str(caught.value).split()
    assert "PRIVATE KEY" not in str(caught.value)
    for record in records:
        stored = load(record)
        assert stored.delivery.state is DeliveryState.READY and stored.delivery.attempts == 0
    assert sidep.ledger() == {}


def test_no_secret_at_all_is_a_clear_error(
    secret_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIDEP_TLS_SECRET_ID", "depistage/none")
    from chalicelib.config import get_settings

    get_settings.cache_clear()
    with pytest.raises(CredentialsError, match="cannot read the SI-DEP TLS secret"):
        _exporter().run(60.0)


def test_the_operator_command_checks_the_pair_then_installs_it(
    secret_env: dict[str, str], sidep: FakeSidep, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from devtools import sidep_certificate

    certs = sidep.certs
    with FakeSidep(tmp_path / "other") as other:
        mismatched = ["--cert", str(certs.client_cert), "--key", str(other.certs.client_key)]
        base = ["--secret-id", secret_env["SIDEP_TLS_SECRET_ID"], "--ca", str(certs.ca)]
        assert sidep_certificate.main([*base, *mismatched]) == 1
        assert "not the certificate's" in capsys.readouterr().err
    # the fake receiver's certificate lives 7 days: refused when asked for more
    pair = ["--cert", str(certs.client_cert), "--key", str(certs.client_key)]
    assert sidep_certificate.main([*base, *pair, "--min-days", "30"]) == 1
    assert "expires" in capsys.readouterr().err
    assert sidep_certificate.main([*base, *pair, "--min-days", "1"]) == 0
    out = capsys.readouterr().out
    assert "PRIVATE" not in out and json.loads(out)["version_id"]
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=secret_env["SIDEP_TLS_SECRET_ID"])
    assert json.loads(secret["SecretString"])["private_key"] == certs.client_key.read_text()
