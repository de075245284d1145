"""The national directory adapter against the fake PSC's directory route: what it lists, what it does
not know, and every failure a 503 that quotes nothing (an invitation is never left unchecked)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib.adapters.psc_directory import HttpProfessionalDirectory
from chalicelib.domain.errors import ServiceUnavailable
from devtools.fake_psc import DIRECTORY_PATH, FakePsc, running

LISTED = "810000000701"
IDENTITIES = [
    {
        "national_id": LISTED,
        "rpps": LISTED[1:],
        "given_name": "Camille",
        "family_name": "Martin",
        "professions": [
            {"code": "21", "finess": ["750000010", "130000029"]},
            {"code": "10", "finess": ["1"]},
        ],
    }
]


@pytest.fixture
def fake() -> Iterator[FakePsc]:
    with running(client_id="depistage", client_secret="s3cret", identities=IDENTITIES) as psc:
        yield psc


def directory(fake: FakePsc, secret: str = "s3cret") -> HttpProfessionalDirectory:
    return HttpProfessionalDirectory(f"{fake.base_url}{DIRECTORY_PATH}", "depistage", lambda: secret)


def test_a_listed_pharmacist_s_practice_is_read_as_the_login_reads_it(fake: FakePsc) -> None:
    practice = directory(fake).practice(LISTED.lower())
    assert practice is not None and practice.national_id == LISTED
    assert practice.professions == {"21", "10"}
    assert practice.pharmacist_finess == {"750000010", "130000029"}  # not the doctor's structure


def test_an_identifier_the_directory_does_not_know_is_none(fake: FakePsc) -> None:
    assert directory(fake).practice("810000000799") is None


@pytest.mark.parametrize("failure", ["wrong credentials", "not configured", "nobody listening"])
def test_a_directory_that_cannot_answer_is_a_503_that_quotes_nothing(fake: FakePsc, failure: str) -> None:
    adapter = {
        "wrong credentials": directory(fake, secret="rotated"),
        "not configured": HttpProfessionalDirectory("", "depistage", lambda: "s3cret"),
        "nobody listening": HttpProfessionalDirectory(
            "http://127.0.0.1:9/directory", "depistage", lambda: "s3cret", timeout_seconds=1
        ),
    }[failure]
    with pytest.raises(ServiceUnavailable) as refused:
        adapter.practice(LISTED)
    assert LISTED not in str(refused.value.detail)
