"""The declarative layer (chalicelib/schema.py) costs `import app` next to nothing: standard library
only, no pattern compiled and no reference data loaded before a request needs them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from chalicelib.domain.errors import ValidationFailed
from chalicelib.schema import Field, Obj, Pattern, kind, string


def _imported_by(module: str) -> dict[str, object]:
    code = (
        "import sys, json; before = set(sys.modules); import " + module + "; "
        "from chalicelib.domain.devices import device_list; "
        "print(json.dumps({'new': sorted(set(sys.modules) - before), "
        "'devices_loaded': device_list.cache_info().currsize}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_the_layer_imports_the_standard_library_only() -> None:
    new = _imported_by("chalicelib.schema")["new"]
    assert isinstance(new, list)
    outside = {
        name
        for name in new
        if name.split(".")[0] not in sys.stdlib_module_names and not name.startswith("chalicelib")
    }
    assert outside == set()


def test_importing_the_payloads_loads_no_device_list() -> None:
    assert _imported_by("chalicelib.payloads")["devices_loaded"] == 0


def test_a_pattern_compiles_when_first_used_and_anchors_in_the_schema() -> None:
    pattern = Pattern("(a|b)[0-9]")
    assert pattern._compiled is None
    assert pattern.matches("a1") and not pattern.matches("a1x")
    assert pattern.anchored == "^(a|b)[0-9]$"


def test_an_object_names_every_field_in_error_and_never_echoes_a_value() -> None:
    declared = Obj(
        [Field("a", kind(string, {"type": "string"})), Field("b", kind(string, {}))], lambda r: r.values
    )
    with pytest.raises(ValidationFailed) as caught:
        declared.parse({"a": 12, "secret value": "x"})
    errors = {e.field: e.message for e in caught.value.errors}
    assert errors == {"a": "must be a string", "b": "is required", "?": "is not an allowed field"}
    assert "secret" not in repr(caught.value.errors) and "12" not in repr(caught.value.errors)
    assert declared.json_schema() == {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {}},
        "required": ["a", "b"],
        "additionalProperties": False,
    }
