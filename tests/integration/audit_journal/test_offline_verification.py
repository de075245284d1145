"""The audit journal on moto: a chain exported and verified offline with the public key alone."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib.adapters.dynamodb.journal import DynamoDbAuditJournal
from chalicelib.domain.audit_chain import format_time, parse_time
from tests.integration.audit_journal.support import HOUR, StepClock, cli, delete_raw, ev, make_journal


def test_an_exported_chain_verifies_offline_with_the_public_key_alone(
    chain_of_12: tuple[DynamoDbAuditJournal, str],
    clock: StepClock,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    _journal, a = chain_of_12
    key, exported = tmp_path / "audit-public-key.pem", tmp_path / "chain.json"
    assert cli(clock, "--save-public-key", str(key))[0] == 0
    assert key.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    code, out = cli(clock, "--export", a, "--out", str(exported))
    assert code == 0 and "12 events, 3 checkpoints" in out
    document = json.loads(exported.read_text())
    assert document["format"] == "depistage-audit-export/1" and len(document["worm"]) == 12

    # No AWS from here on: no credentials, and any client would fail.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AUDIT_KEY_ID"):
        monkeypatch.delenv(name, raising=False)

    def no_aws(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("offline verification called AWS")

    monkeypatch.setattr(boto3, "client", no_aws)
    monkeypatch.setattr(boto3, "Session", no_aws)
    code, out = cli(clock, "--file", str(exported), "--public-key", str(key))
    assert code == 0 and "intact" in out, out
    document["events"][4]["event"]["S"] = document["events"][4]["event"]["S"].replace("rec-4", "rec-x")
    exported.write_text(json.dumps(document))
    code, out = cli(clock, "--file", str(exported), "--public-key", str(key))
    assert code == 1 and "first broken link seq 5: edited" in out
    later = format_time(parse_time(document["exported_at"]) + 3 * HOUR)
    assert "stale" in cli(clock, "--file", str(exported), "--public-key", str(key), "--now", later)[1]
    other = tmp_path / "other.pem"
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    code, out = cli(clock, "--file", str(exported), "--public-key", str(other))
    assert code == 1 and "checkpoint_forged" in out


def test_the_command_builds_its_source_from_the_environment(
    pharmacies: tuple[str, str], clock: StepClock
) -> None:
    a, b = pharmacies
    make_journal(clock).append(ev(1, a))
    code, out = cli(clock, "--chain", a, "--json")
    assert code == 0 and [(c["chain"], c["ok"]) for c in json.loads(out)["chains"]] == [(a, True)]
    make_journal(clock).append(ev(1, b))
    make_journal(clock).append(ev(2, b))
    delete_raw(b, 1)
    code, out = cli(clock, "--chain", a, "--chain", b)
    assert code == 1 and "1 intact, 1 broken" in out


def test_the_command_says_when_it_cannot_verify(monkeypatch: pytest.MonkeyPatch, clock: StepClock) -> None:
    monkeypatch.delenv("AUDIT_KEY_ID", raising=False)
    assert cli(clock, "--all")[0] == 2
    assert cli(clock, "--file", "/nonexistent.json", "--public-key", "/nonexistent.pem")[0] == 2
