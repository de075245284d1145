"""The offline window a deployed stage runs with: the setting's default, a week. The local stack and
the tests widen it to the retention's hard cap (devtools/provision.py) for their fixed-day examples;
that override must never reach the template, where every function that parses a record (the API,
the uploads' processing) would then accept samples three months old."""

from __future__ import annotations

from typing import Any

from chalicelib.config import Settings, env_name
from devtools.provision import EXAMPLES_OFFLINE_WINDOW_DAYS
from infra.template import Function, merge_template

FUNCTIONS = [
    Function("api_handler", "APIHandler"),
    Function("export_to_sidep", "ExportToSidep"),
    Function("purge_expired", "PurgeExpired"),
    Function("process_import", "ProcessImport"),
]


def _environments() -> dict[str, dict[str, Any]]:
    resources: dict[str, Any] = merge_template(FUNCTIONS, "eu-west-3", "prod")["Resources"]
    return {
        name: resource["Properties"]["Environment"]["Variables"]
        for name, resource in resources.items()
        if "Environment" in resource.get("Properties", {})
    }


def test_no_deployed_function_is_given_an_offline_window_so_each_keeps_the_week() -> None:
    environments = _environments()
    assert {"APIHandler", "ProcessImport"} <= set(environments)  # the two that parse records
    for name, variables in environments.items():
        assert env_name("offline_window_days") not in variables, name
    assert Settings().offline_window_days == 7
    assert EXAMPLES_OFFLINE_WINDOW_DAYS == Settings().retention_hard_cap_days > 7  # local only
