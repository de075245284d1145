"""Every request body is shown: each route that takes one has its example in the API document, the
server accepts that example, and docs/api.md's "Request bodies" table shows it as the document
gives it (the README links that table)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.api.openapi import _blueprints, document
from chalicelib.payloads.fields import Context
from chalicelib.schema import Errors

ROOT = Path(__file__).resolve().parents[2]
HTTP_METHODS = {"get", "put", "post", "delete", "patch"}


def _operations_with_a_body() -> dict[str, dict[str, Any]]:
    """`METHOD path` -> the request body's content, by media type, of each operation that takes one."""
    return {
        f"{method.upper()} {path}": operation["requestBody"]["content"]
        for path, item in document()["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS and "requestBody" in operation
    }


def _bodies() -> dict[str, Any]:
    """`METHOD path` -> the example of each operation that takes a JSON body."""
    return {
        route: content["application/json"].get("example")
        for route, content in _operations_with_a_body().items()
        if "application/json" in content
    }


def test_a_body_that_is_not_json_is_a_spreadsheet_whose_template_is_in_the_repository() -> None:
    json_bodies = _bodies()
    others = {route: body for route, body in _operations_with_a_body().items() if route not in json_bodies}
    assert others, "the spreadsheet import takes text/csv"
    for route, content in others.items():
        assert set(content) == {"text/csv"}, route
        template = re.search(r"`(docs/[^`]+\.csv)`", str(content["text/csv"]) + json.dumps(document()))
        assert template is not None and (ROOT / template.group(1)).is_file(), route


def _table() -> dict[str, Any]:
    """`METHOD path` -> the first JSON code span of its row in docs/api.md's Request bodies."""
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    section = text[text.index("\n## Request bodies") :]
    section = section[: section.index("\n## ", 1)]
    rows: dict[str, Any] = {}
    for route, example in re.findall(r"^\| `([A-Z]+ /[^`]+)` \| `([^`]+)`", section, flags=re.M):
        rows[route] = json.loads(example)
    return rows


def test_every_route_with_a_body_is_in_the_docs_table_with_the_document_s_example() -> None:
    assert _table() == _bodies()


@pytest.mark.parametrize("route", sorted(_bodies()))
def test_the_document_s_example_is_accepted_by_the_body_s_declaration(route: str) -> None:
    example = _bodies()[route]
    assert example is not None, f"{route}: give its Route an example"
    method, path = route.split(" ", 1)
    (declared,) = [
        declaration.body
        for api in _blueprints()
        for declaration in api.declarations
        if declaration.method == method and declaration.path == path and declaration.body is not None
    ]
    # a submission's sampling time is checked against now: the example's day, an hour later
    now = datetime.fromisoformat("2026-11-29T11:15:00+01:00")
    errors = Errors()
    parsed = declared.read(example, "", errors, Context(now=now, max_age=timedelta(days=90)))
    assert not errors.items and parsed is not None, errors.items
