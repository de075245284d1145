"""Every field rule's code and every problem type, walked from their declarations: each is listed in
the API document (x-error-codes, x-problem-types) and translated in the French catalogue that
ships as an app's example (docs/errors.fr.json), which holds nothing the code no longer declares."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import chalicelib
from chalicelib.api.gateway import GATEWAY_TYPES, gateway_problem
from chalicelib.api.openapi import document
from chalicelib.api.problems import CONFLICTS, PROBLEMS, TYPE_PREFIX, ProblemType, problem_for
from chalicelib.domain import nir
from chalicelib.domain.errors import Conflict, ConflictReason, Rule, ValidationFailed

for _module in pkgutil.walk_packages(chalicelib.__path__, "chalicelib."):
    importlib.import_module(_module.name)  # every rule and type declared anywhere is seen

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE: dict[str, Any] = json.loads((ROOT / "docs" / "errors.fr.json").read_text(encoding="utf-8"))
RULES = sorted(Rule.declared.values(), key=lambda rule: rule.code)
TYPES = list(ProblemType.declared.values())


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.code)
def test_every_rule_s_code_is_in_the_api_document_and_the_french_catalogue(rule: Rule) -> None:
    assert re.fullmatch(r"[a-z][a-z0-9_]*", rule.code)
    assert document()["x-error-codes"][rule.code] == {"message": rule.message}
    french = CATALOGUE["field_errors"].get(rule.code)
    assert french, f"docs/errors.fr.json: translate {rule.code!r}"
    assert "{" not in french  # a whole sentence: the wire carries no parameter to fill in


@pytest.mark.parametrize("kind", TYPES, ids=lambda kind: kind.slug)
def test_every_problem_type_is_in_the_api_document_and_the_french_catalogue(kind: ProblemType) -> None:
    assert kind.uri.startswith(TYPE_PREFIX) and re.fullmatch(r"[a-z][a-z-]*", kind.slug)
    listed = document()["x-problem-types"][kind.uri]
    assert listed == {"status": kind.status, "title": kind.title, "description": kind.description}
    assert CATALOGUE["problem_types"].get(kind.uri), f"docs/errors.fr.json: translate {kind.uri!r}"


def test_the_french_catalogue_holds_no_stale_code_or_type() -> None:
    assert set(CATALOGUE["field_errors"]) == set(Rule.declared)
    assert set(CATALOGUE["problem_types"]) == {kind.uri for kind in TYPES}


def test_the_document_lists_exactly_the_declared_codes_and_types() -> None:
    assert set(document()["x-error-codes"]) == set(Rule.declared)
    assert set(document()["x-problem-types"]) == {kind.uri for kind in TYPES}


def test_each_problem_response_lists_the_types_of_its_status() -> None:
    for response in document()["components"]["responses"].values():
        listed = response["x-problem-types"]
        assert listed, response["description"]
        statuses = {document()["x-problem-types"][uri]["status"] for uri in listed}
        assert len(statuses) == 1


def test_rules_are_declared_only_where_the_document_sees_them() -> None:
    """The document imports the payload declarations: a rule declared in a module they do not
    import (a service, an adapter) would be missing from the document of a fresh process."""
    walk = (
        "import importlib, pkgutil, chalicelib, chalicelib.api.openapi\n"
        "from chalicelib.domain.errors import Rule\n"
        "seen = set(Rule.declared)\n"
        "for m in pkgutil.walk_packages(chalicelib.__path__, 'chalicelib.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(sorted(set(Rule.declared) - seen))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", walk], capture_output=True, text=True, timeout=120, check=True, cwd=ROOT
    )
    assert found.stdout.strip() == "[]", found.stdout


def test_every_conflict_reason_has_its_own_type() -> None:
    assert set(CONFLICTS) == set(ConflictReason)
    assert len({kind.uri for kind in CONFLICTS.values()}) == len(ConflictReason)
    assert all(kind.status == 409 for kind in CONFLICTS.values())
    assert CONFLICTS[ConflictReason.CONFLICT] is PROBLEMS[Conflict]


def test_each_type_is_declared_once_and_every_exception_s_type_is_declared() -> None:
    assert len({kind.uri for kind in TYPES}) == len(TYPES)
    assert all(kind in TYPES for kind in [*PROBLEMS.values(), *CONFLICTS.values(), *GATEWAY_TYPES.values()])


def test_a_field_error_carries_its_rule_s_code_in_the_problem() -> None:
    response = problem_for(ValidationFailed([nir.NIR_CHECKSUM.at("patient.nir")]))
    assert response.body["type"] == TYPE_PREFIX + "validation-failed"
    assert response.body["errors"] == [
        {"field": "patient.nir", "code": "nir_checksum", "message": "has a wrong key"}
    ]


def test_a_conflict_s_reason_is_its_type_and_already_sent_names_the_withdrawal() -> None:
    sent = problem_for(
        Conflict("sent", reason=ConflictReason.ALREADY_SENT, withdrawal="/v1/tests/x/withdrawal")
    )
    assert sent.status_code == 409
    assert sent.body == {
        "type": TYPE_PREFIX + "already-sent",
        "title": "Conflict",
        "status": 409,
        "detail": "sent",
        "withdrawal": "/v1/tests/x/withdrawal",
    }
    raced = problem_for(Conflict("retry", reason=ConflictReason.CHANGED_MEANWHILE))
    assert raced.body["type"] == TYPE_PREFIX + "changed-meanwhile"


@pytest.mark.parametrize("response_type", sorted(GATEWAY_TYPES))
def test_the_gateway_s_own_answers_have_their_listed_type(response_type: str) -> None:
    status, body = gateway_problem(response_type)
    assert body["type"] in document()["x-problem-types"]
    assert document()["x-problem-types"][body["type"]]["status"] == status == body["status"]


def test_a_rule_is_declared_once() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        Rule("required", "is required")
    with pytest.raises(ValueError, match="declared twice"):
        ProblemType("not-found", 404, "Not found", "again")
