"""The API edge's rules that a reading of the code can check: a view takes the time from the Clock
port (never the machine's clock), and a use case answers domain values, rendered at the edge
(chalicelib/api/render.py, chalicelib/domain/serialization.py), not dicts shaped for the wire."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import typing
from pathlib import Path

import chalicelib.services

API = Path(__file__).resolve().parents[2] / "chalicelib" / "api"
# Calls that read the machine's clock.
CLOCK_READS = {("datetime", "now"), ("datetime", "utcnow"), ("date", "today"), ("time", "time")}
# Use cases still answering a dict, each with its reason (remove an entry when it gets a type).
DICT_ANSWERS = {
    "journal.read_audit": "its items are the adapter's public views of links (domain/audit_chain.py)",
    "patients.export_patient": "the patient's full export, rendered with the record serializers",
    "patients.erase_patient": "the erasure's report, rendered with the record serializers",
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


def _use_cases() -> dict[str, object]:
    found: dict[str, object] = {}
    for info in pkgutil.iter_modules(chalicelib.services.__path__):
        module = importlib.import_module(f"chalicelib.services.{info.name}")
        for name, function in vars(module).items():
            if (
                inspect.isfunction(function)
                and function.__module__ == module.__name__
                and not name.startswith("_")
            ):
                params = inspect.signature(function).parameters
                if "caller" in params or "meta" in params:  # what a route calls
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
