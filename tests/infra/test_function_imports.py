"""Each Lambda function loads only what its handlers use (its cold start): the API function neither
the export, HL7 nor SI-DEP code, even once its container is built; the scheduled and stream
functions (the exporter among them) no payload declaration and no route, even once they have built
everything their jobs build. Each check runs in a fresh interpreter, as a cold Lambda does.

bench/cold_start.py measures what these imports cost, per function, on the package."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.config import env_name

ROOT = Path(__file__).resolve().parents[2]

# What the API function must never load.
EXPORT_CODE = (
    "chalicelib.services.export",
    "chalicelib.adapters.sidep",
    "chalicelib.adapters.dynamodb.export_queue",
    "chalicelib.adapters.sqs",
    "hl7",
)
# What a scheduled or stream function must never load: the API's declarations and its areas.
API_CODE = (
    "chalicelib.payloads",
    "chalicelib.api.openapi",
    "chalicelib.api.records",
    "chalicelib.api.middleware",
    "chalicelib.services.records",
    "chalicelib.services.admin",
    "chalicelib.services.patients",
    "chalicelib.services.psc_login",
    "chalicelib.services.stats",
)


def _handler_modules() -> list[str]:
    """The modules the template's non-API functions name as their handlers (chalice: the blueprint's)."""
    import app

    handlers = [source.handler_string for source in app.app.event_sources]
    handlers += [function.handler_string for function in app.app.pure_lambda_functions]
    return sorted({handler.rpartition(".")[0] for handler in handlers})


def _lazy_imports_of_the_jobs() -> list[str]:
    """Every chalicelib module chalicelib/jobs.py imports, inside its functions included."""
    tree = ast.parse((ROOT / "chalicelib" / "jobs.py").read_text())
    found = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    return sorted(name for name in found if name.startswith("chalicelib."))


def _loaded(code: str) -> set[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "eu-west-3",
        "AWS_REGION": "eu-west-3",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret
        "POWERTOOLS_METRICS_DISABLED": "1",
        env_name("stage"): "local",
        env_name("audit_key_id"): "alias/audit",
        env_name("data_key_id"): "alias/data",
        env_name("blind_index_key_id"): "alias/index",
        env_name("session_key_id"): "alias/session",
        env_name("sidep_tls_secret_id"): "sidep-tls",
        env_name("sidep_url"): "https://sidep.example/hl7",
        env_name("export_fanout_queue_url"): "https://sqs.eu-west-3.amazonaws.com/000000000000/export-shards",
    }
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def _any_of(loaded: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in loaded if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_the_api_function_loads_no_export_hl7_or_sidep_code_even_with_its_container_built() -> None:
    loaded = _loaded("import app\nfrom chalicelib.bootstrap import get_container\nget_container()")
    assert "chalicelib.payloads" in loaded  # the check sees what the API does load
    assert _any_of(loaded, EXPORT_CODE) == []


def test_the_api_function_starts_without_its_use_cases_and_loads_one_when_a_route_first_calls_it() -> None:
    """chalicelib/api/lazy.py: `import app` loads no use case but the `Call` every view builds."""
    started = _loaded("import app")
    assert "chalicelib.api.records" in started  # the routes are there
    assert _any_of(started, ("chalicelib.services",)) == ["chalicelib.services", "chalicelib.services.call"]
    called = _loaded("import app\nfrom chalicelib.api import records\nrecords.records.pharmacy_zone")
    assert "chalicelib.services.records" in called


# The uploads' processing creates records as the API does (payload rules, the records' use cases):
# it is the API's code on a queue, checked apart below.
IMPORT_HANDLER = "chalicelib.api.import_files"


def test_the_handlers_of_the_other_functions_are_modules_of_their_own() -> None:
    assert _handler_modules() == [
        "chalicelib.api.identity_events",
        IMPORT_HANDLER,
        "chalicelib.api.schedules",
        "chalicelib.api.streams",
    ]


def test_the_import_processing_loads_no_export_hl7_or_sidep_code() -> None:
    loaded = _loaded(
        f"import {IMPORT_HANDLER}\nfrom chalicelib.bootstrap import build_imports, get_container\n"
        "build_imports(get_container())\nfrom chalicelib.services import imports"
    )
    assert "chalicelib.payloads.csv_rows" in loaded  # the check sees what it does load
    assert _any_of(loaded, EXPORT_CODE) == []


@pytest.mark.parametrize("handler_module", [m for m in _handler_modules() if m != IMPORT_HANDLER])
def test_a_scheduled_or_stream_function_loads_no_payload_declaration_and_no_route(
    handler_module: str,
) -> None:
    # the handler module, then everything any job builds: the exporter (the HL7 sender, the
    # certificate files), the fan-out, the checkpointer, and every module the jobs import
    builds = "\n".join(
        [
            f"import {handler_module}",
            *(f"import {module}" for module in _lazy_imports_of_the_jobs()),
            "from chalicelib import bootstrap",
            "from chalicelib.config import get_settings",
            "bootstrap.get_exporter()",
            "assert bootstrap.build_fanout(get_settings()) is not None",
            "bootstrap.build_checkpointer(get_settings())",
        ]
    )
    loaded = _loaded(builds)
    assert {"chalicelib.services.export", "chalicelib.adapters.sidep.hl7"} <= loaded  # it did build them
    assert _any_of(loaded, API_CODE) == []
