"""What the payload tests share: the moment they parse at and a body with one change."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest

from chalicelib.domain.errors import FieldError, Rule, ValidationFailed
from chalicelib.payloads import (
    parse_submission,
)
from testkit.patients import screening_body as make_body

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
MAX_AGE_DAYS = 7


def parse(body: object) -> Any:
    return parse_submission(body, now=NOW, max_age_days=MAX_AGE_DAYS)


def errors_of(body: object) -> dict[str, str]:
    """field -> message of every error parse_submission reports (one message a field in these tests)."""
    with pytest.raises(ValidationFailed) as caught:
        parse(body)
    for error in caught.value.errors:
        assert_declared(error)
    return {error.field: error.message for error in caught.value.errors}


def assert_declared(error: FieldError) -> None:
    """`error` carries the code of a declared rule, and that rule's message (its parameters filled)."""
    rule = Rule.declared[error.code]
    pattern = re.sub(r"\\\{\w+\\\}", ".+", re.escape(rule.message))
    assert re.fullmatch(pattern, error.message), (error.code, error.message)


def with_patient(**changes: Any) -> dict[str, Any]:
    body = make_body(0)
    body["patient"].update(changes)
    return body


def with_test(**changes: Any) -> dict[str, Any]:
    body = make_body(0)
    body["test"].update(changes)
    return body


TODAY = date(2026, 11, 29)
