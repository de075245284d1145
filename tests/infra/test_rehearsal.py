"""`make rehearse` inside the suite: the zip `make package` builds, in a fresh interpreter with only
its contents, with each function's environment from the generated template, against a local stack."""

from __future__ import annotations

import json
from pathlib import Path

from chalicelib.adapters.dynamodb.models import export_queue_keys
from infra.rehearse import api_functions, functions_of, rehearse
from tests.infra.conftest import load_template


def test_the_packaged_artifact_runs_every_handler_the_template_names(
    real_package: Path, tmp_path: Path
) -> None:
    template = load_template(real_package)
    summary = rehearse(real_package, tmp_path)
    assert summary["failures"] == [], json.dumps(summary, indent=2)[-4000:]
    # every function of the template, each under the handler the template names
    assert set(summary["functions"]) == set(functions_of(template))
    for name, function in summary["functions"].items():
        assert function["handler"] == functions_of(template)[name]["Properties"]["Handler"]
        assert function["invocations"] and all(i["passed"] for i in function["invocations"])
    (api,) = api_functions(template)
    families = {i["event"].split()[1].split("/")[2] for i in summary["functions"][api]["invocations"]}
    paths = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    assert families == {path.split("/")[2] for path in paths}
    # the record the API stored went to SI-DEP with the certificate from Secrets Manager, via 0600 files
    assert summary["created_record"] and summary["ledger"] >= 1
    # The sweeper sent one message per export-queue shard and sent nothing to SI-DEP itself; its
    # consumers sent, reading the certificate into 0600 files.
    sweeper = next(f for f in summary["functions"].values() if f["handler"].endswith("export_to_sidep"))
    assert [i["result"] for i in sweeper["invocations"]] == [{"fanned_out": len(export_queue_keys())}]
    assert sweeper["tmp_files"] == {}
    consumer = next(f for f in summary["functions"].values() if f["handler"].endswith("export_shard"))
    assert len(consumer["invocations"]) == len(export_queue_keys())
    assert sum(i["result"].get("acknowledged", 0) for i in consumer["invocations"]) >= 1
    assert set(consumer["tmp_files"].values()) == {"0o600"} and len(consumer["tmp_files"]) == 3
