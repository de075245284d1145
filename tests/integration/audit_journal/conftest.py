"""Fixtures of the audit journal's tests on moto: one provisioned account for the package, fresh
pharmacies per test, a journal, a chain of twelve events signed hourly and copied to WORM."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.dynamodb.journal import DynamoDbAuditJournal
from chalicelib.bootstrap import bind_tables
from chalicelib.config import get_settings
from devtools.provision import provision
from tests.integration.audit_journal.support import (
    HOUR,
    StepClock,
    cli,
    copy_to_worm,
    ev,
    make_checkpointer,
    make_journal,
    valid_finess,
)


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture(scope="package")
def shared_account() -> Iterator[dict[str, str]]:
    """One provisioned moto account for the package (provisioning costs seconds); each test writes
    its own chains, so tests stay independent. Tests that break the account use `aws`."""
    with pytest.MonkeyPatch.context() as env:
        env.delenv("AWS_ENDPOINT_URL", raising=False)  # set by an earlier module's operator command
        with mock_aws():
            yield provision(boto3.Session(region_name="eu-west-3"))


@pytest.fixture
def account(shared_account: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in shared_account.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    bind_tables(get_settings())
    return shared_account


_serial = itertools.count(1)


@pytest.fixture
def pharmacies(account: dict[str, str]) -> tuple[str, str]:
    """Two FINESS no other test of the module writes to."""
    n = next(_serial)
    return valid_finess(f"75{n:06d}"), valid_finess(f"69{n:06d}")


@pytest.fixture
def journal(account: dict[str, str], clock: StepClock) -> DynamoDbAuditJournal:
    return make_journal(clock)


@pytest.fixture
def chain_of_12(
    journal: DynamoDbAuditJournal, pharmacies: tuple[str, str], clock: StepClock
) -> tuple[DynamoDbAuditJournal, str]:
    """Twelve events over three hours, signed hourly (heads 4, 8, 12), copied to the WORM bucket."""
    a, _ = pharmacies
    signer = make_checkpointer(clock)
    for hour in range(3):
        for i in range(4):
            journal.append(ev(hour * 4 + i, a))
        signer.checkpoint(a)
        clock.moment += HOUR
    clock.moment -= HOUR
    copy_to_worm()
    code, out = cli(clock, "--chain", a)
    assert code == 0, out
    assert "intact" in out and "12 compared with the WORM copy" in out
    return journal, a
