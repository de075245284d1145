"""The API edge's rules that a reading of the code can check: a view takes the time from the Clock
port (never the machine's clock), and a use case answers domain values, rendered at the edge from
the response declarations (chalicelib/payloads/responses.py), not dicts shaped for the wire."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import chalicelib.services

API = Path(__file__).resolve().parents[2] / "chalicelib" / "api"
SERVICES = API.parent / "services"
# What a service may take of the payloads: the path ids' readers (an id that names nothing is the
# use case's 404, journaled) and the queries' types; the bodies' and queries' parsers are the views'.
PATH_ID_READERS = {"parse_uuid", "validate_finess"}
# Calls that read the machine's clock.
CLOCK_READS = {("datetime", "now"), ("datetime", "utcnow"), ("date", "today"), ("time", "time")}
# Use cases still answering a dict, each with its reason (remove an entry when it gets a type).
DICT_ANSWERS = {
    "journal.read_audit": "its items are the adapter's public views of links (domain/audit_chain.py)",
    "patients.export_patient": "the patient's full export, its records rendered by their declarations",
    "patients.erase_patient": "the erasure's report, built by the use case",
    "stats.read_stats": "domain/stats.py builds the statistics body (range_stats)",
}


def test_no_view_reads_the_machines_clock() -> None:
    found = []
    for path in sorted(API.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
                if (name, node.func.attr) in CLOCK_READS:
                    found.append(f"{path.name}:{node.lineno}")
    assert found == [], "take the time from get_container().clock"


def _use_cases() -> dict[str, Callable[..., Any]]:
    found: dict[str, Callable[..., Any]] = {}
    for info in pkgutil.iter_modules(chalicelib.services.__path__):
        module = importlib.import_module(f"chalicelib.services.{info.name}")
        for name, function in vars(module).items():
            if (
                inspect.isfunction(function)
                and function.__module__ == module.__name__
                and not name.startswith("_")
            ):
                params = inspect.signature(function).parameters
                if "call" in params or "meta" in params:  # what a route calls
                    found[f"{info.name}.{name}"] = function
    return found


def _answers_a_dict(annotation: object) -> bool:
    text = str(annotation)
    return text.startswith("dict[") or "list[dict[" in text


def test_use_cases_answer_domain_values() -> None:
    use_cases = _use_cases()
    assert {"records.read_delivery", "admin.invite_member", "psc_login.start_login"} <= set(use_cases)
    answering_dicts = {
        name
        for name, function in use_cases.items()
        if _answers_a_dict(typing.get_type_hints(function).get("return"))
    }
    assert answering_dicts == set(DICT_ANSWERS)


def test_use_cases_take_typed_values_never_a_body() -> None:
    """A view parses (chalicelib/payloads.py) into a command (chalicelib/domain/commands.py) or a
    query; a use case never sees a body, a query string or an untyped value."""
    untyped = []
    for name, function in _use_cases().items():
        hints = typing.get_type_hints(function)
        for param in inspect.signature(function).parameters:
            if param in {"body", "params"} or hints.get(param) in (Any, object):
                untyped.append(f"{name}({param})")
    assert untyped == []


def test_no_service_calls_a_payload_parser() -> None:
    found = []
    for path in sorted(SERVICES.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "chalicelib.payloads":
                names = {alias.name for alias in node.names}
                found += [
                    f"{path.name}: {n}" for n in names if n.startswith("parse_") and n not in PATH_ID_READERS
                ]
    assert found == [], "parse in the view, hand the use case a command"
