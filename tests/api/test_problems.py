"""The problem table (chalicelib/api/problems.py): every error the domain can raise has its HTTP
status and title there, and the domain's errors carry none."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import chalicelib
from chalicelib.api.problems import (
    PROBLEMS,
    EdgeError,
    PayloadTooLarge,
    UnsupportedMediaType,
    problem_for,
    status_and_title,
)
from chalicelib.domain import errors, psc
from chalicelib.domain.errors import DomainError

for _module in pkgutil.walk_packages(chalicelib.__path__, "chalicelib."):
    importlib.import_module(_module.name)  # every subclass defined anywhere is seen


def _subclasses(cls: type[Exception]) -> list[type[Exception]]:
    found: list[type[Exception]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


DOMAIN_ERRORS = [
    cls for cls in [DomainError, *_subclasses(DomainError)] if cls.__module__.startswith("chalicelib.")
]


@pytest.mark.parametrize("cls", DOMAIN_ERRORS, ids=lambda cls: cls.__qualname__)
def test_every_domain_error_has_its_own_entry(cls: type[Exception]) -> None:
    assert cls in PROBLEMS, f"{cls.__module__}.{cls.__qualname__}: add it to api/problems.py PROBLEMS"


@pytest.mark.parametrize("cls", DOMAIN_ERRORS, ids=lambda cls: cls.__qualname__)
def test_the_domain_knows_no_http(cls: type[Exception]) -> None:
    assert not hasattr(cls, "status") and not hasattr(cls, "title")


def test_the_edge_errors_belong_to_the_edge() -> None:
    assert not issubclass(PayloadTooLarge, DomainError) and not issubclass(UnsupportedMediaType, DomainError)
    assert not hasattr(errors, "PayloadTooLarge") and not hasattr(errors, "UnsupportedMediaType")
    for cls in _subclasses(EdgeError):
        assert cls in PROBLEMS


# What each error answered before the table (status and title lived on the classes): unchanged.
BEFORE = {
    DomainError: (500, "Internal error"),
    errors.ValidationFailed: (400, "Invalid request"),
    errors.Unauthenticated: (401, "Unauthenticated"),
    errors.Forbidden: (403, "Forbidden"),
    errors.NotFound: (404, "Not found"),
    errors.Conflict: (409, "Conflict"),
    errors.ServiceUnavailable: (503, "Service unavailable"),
    errors.IntegrityError: (500, "Integrity check failed"),
    UnsupportedMediaType: (415, "Unsupported media type"),
    PayloadTooLarge: (413, "Payload too large"),
    psc.PscRefused: (403, "Pro Santé Connect login refused"),
    psc.CibaProblem: (500, "Internal error"),
    psc.AuthorizationPending: (400, "Authorization pending"),
    psc.SlowDown: (429, "Polling too fast"),
    psc.TooManyStarts: (429, "Too many logins"),
    psc.LoginExpired: (410, "Login expired"),
    psc.AccessDenied: (403, "Login declined"),
    psc.UnknownIdentifier: (404, "Unknown identifier"),
    psc.UnknownLogin: (404, "Unknown login"),
}


def test_the_table_says_what_the_classes_said() -> None:
    assert {cls: (kind.status, kind.title) for cls, kind in PROBLEMS.items()} == BEFORE


def test_a_subclass_without_an_entry_takes_its_nearest_parents() -> None:
    class Unlisted(errors.NotFound):
        pass

    assert status_and_title(Unlisted("x")) == (404, "Not found")
    assert status_and_title(KeyError("x")) is None


def test_an_error_without_detail_says_its_title() -> None:
    response = problem_for(errors.Conflict())
    assert response.status_code == 409
    assert response.body == {
        "type": "tag:depistage.fr,2026:problems/conflict",
        "title": "Conflict",
        "status": 409,
        "detail": "Conflict",
    }


def test_retry_after_is_the_edges_header_for_the_domains_fact() -> None:
    assert problem_for(errors.ServiceUnavailable("down", retry_after_seconds=7)).headers["Retry-After"] == "7"
    slow = problem_for(psc.SlowDown("Poll at most every 10 seconds.", retry_after_seconds=10))
    assert slow.status_code == 429 and slow.headers["Retry-After"] == "10"
    assert slow.body["error"] == "slow_down"
    assert "Retry-After" not in problem_for(psc.LoginExpired("gone")).headers
