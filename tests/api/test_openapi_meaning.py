"""The generated OpenAPI document means what the reference document (the hand-written one it
replaced, tests/api/openapi_reference.json) meant: same paths, parameters, schemas, constraints,
responses and links. Prose (descriptions, summaries, examples) may be reworded; the order of
`required` and `enum` lists carries no meaning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chalicelib.api.openapi import document

REFERENCE = Path(__file__).with_name("openapi_reference.json")
_PROSE = frozenset({"description", "summary", "example", "examples"})
_UNORDERED = frozenset({"required", "enum"})


def meaning(node: Any, *, names: bool = False) -> Any:
    """`node` without prose and with its unordered lists sorted. `names`: `node` maps names to
    schemas (a `properties` object), whose keys are data, never keywords to drop."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if not names and key in _PROSE:
                continue
            if not names and key in _UNORDERED and isinstance(value, list):
                out[key] = sorted(value, key=json.dumps)
            else:
                out[key] = meaning(value, names=not names and key == "properties")
        return out
    if isinstance(node, list):
        return [meaning(item) for item in node]
    return node


def test_the_document_means_what_the_reference_meant() -> None:
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    assert meaning(document()) == meaning(reference)


def test_meaning_drops_prose_but_keeps_a_property_named_like_a_keyword() -> None:
    schema = {
        "type": "object",
        "description": "prose",
        "properties": {"title": {"type": "string", "description": "x"}, "description": {"type": "string"}},
        "required": ["title", "description"],
    }
    assert meaning(schema) == {
        "type": "object",
        "properties": {"title": {"type": "string"}, "description": {"type": "string"}},
        "required": ["description", "title"],
    }
