"""Figure 4: cold start, per Lambda function. Import time of each function's handler module from the
packaged, unzipped deployment (the API's `app` also without the precompiled bytecode) against a
bare `import boto3` in the same run, and the sizes. infra/measure.py's helpers do the work (each
import in a fresh interpreter, -S -B, only the unzipped package on sys.path); here every sample is
kept for the spread, and the imports are interleaved so that a change of load hits them alike.

A function's handler module is what its template names (sam.json next to the zip): `app` for the
API, the blueprint's module for the others (chalicelib/api/schedules.py, streams.py,
identity_events.py). What a function's first invocation adds (the API's container, the exporter:
chalicelib/bootstrap/ imports their adapters when it builds them) is measured too, as
`<function> built`: the same import of every module it has loaded once built (listed by a fresh
interpreter that builds it, no AWS call), so that a deferred import is still counted somewhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import summary

DEFAULT_ZIP = Path("build/package/deployment.zip")
API_MODULE = "app"
# What a first invocation builds, by handler module: the API its container; the others whatever
# the jobs build (chalicelib/jobs.py), the exporter at most (tests/infra/test_function_imports.py).
BUILDS = {
    API_MODULE: "from chalicelib.bootstrap import get_container\nget_container()",
    "chalicelib.api.schedules": "from chalicelib.bootstrap import get_exporter\nget_exporter()",
}


def _build_env() -> dict[str, str]:
    """Placeholders for the settings a build reads (local stage: no deployed setting is required)."""
    from chalicelib.config import env_name

    placeholders = {
        "stage": "local",
        "data_key_id": "alias/bench",
        "blind_index_key_id": "alias/bench",
        "session_key_id": "alias/bench",
        "sidep_url": "https://sidep.invalid/hl7",
        "sidep_tls_secret_id": "bench",
    }
    return {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "eu-west-3",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",  # pragma: allowlist secret
        "POWERTOOLS_METRICS_DISABLED": "1",
        **{env_name(name): value for name, value in placeholders.items()},
    }


def handler_modules(sam_path: Path) -> dict[str, list[str]]:
    """Handler module → the functions whose template names it."""
    template = json.loads(sam_path.read_text())
    modules: dict[str, list[str]] = {}
    for name, resource in sorted(template["Resources"].items()):
        if resource.get("Type") == "AWS::Serverless::Function":
            module = resource["Properties"]["Handler"].rpartition(".")[0]
            modules.setdefault(module, []).append(name)
    return modules


def built_modules(root: Path, module: str, build: str) -> list[str]:
    """The modules of the package that `module` plus its build load, in load order."""
    code = (
        f"import sys, json; sys.path.insert(0, {str(root)!r}); import {module}\n{build}\n"
        "print(json.dumps(list(sys.modules)))"
    )
    command = [sys.executable, "-S", "-B", "-c", code]
    out = subprocess.run(command, cwd=root, env=_build_env(), capture_output=True, text=True, check=True)
    shipped = {path.name.split(".")[0] for path in root.iterdir()}
    names = json.loads(out.stdout.strip().splitlines()[-1])
    return [name for name in names if name.split(".")[0] in shipped and ".moves" not in name]


def measure(zip_path: Path = DEFAULT_ZIP, runs: int = 7) -> dict[str, Any]:
    if not zip_path.is_file():
        return {"skipped": f"no package at {zip_path}: run `make package` (make bench does)"}
    from infra.bytecode import extract
    from infra.measure import _tree_size, time_import

    sam = zip_path.with_name("sam.json")
    modules = handler_modules(sam) if sam.is_file() else {API_MODULE: ["APIHandler"]}
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        compiled, source = Path(tmp) / "compiled", Path(tmp) / "source"
        extract(zip_path, compiled)
        unzipped_bytes, files = _tree_size(compiled)
        pyc = sum(1 for _ in compiled.rglob("*.pyc"))
        shutil.copytree(compiled, source, ignore=shutil.ignore_patterns("__pycache__"))
        imports = {module: module for module in modules}
        # a stand-in package (tests/integration/test_bench_smoke.py's) ships no runtime to build
        builds = BUILDS if (compiled / "chalicelib").is_dir() else {}
        for module, build in builds.items():
            if module in modules:
                imports[f"{module} built"] = ", ".join(built_modules(compiled, module, build))
        samples: dict[str, list[float]] = {name: [] for name in [*imports, "app_source_only", "boto3"]}
        for _ in range(runs):
            for name, statement in imports.items():
                samples[name] += time_import(compiled, statement, 1)
            samples["app_source_only"] += time_import(source, API_MODULE, 1)
            samples["boto3"] += time_import(compiled, "boto3", 1)
    ms = {name: [1000 * s for s in values] for name, values in samples.items()}

    def ratio(name: str) -> dict[str, Any]:
        return summary([a / b for a, b in zip(ms[name], ms["boto3"], strict=True)], 2)

    per_function = {
        name: {
            "functions": modules[name.removesuffix(" built")],
            "import_ms": summary(ms[name], 1),
            "ratio_vs_boto3": ratio(name),
        }
        for name in imports
    }
    return {
        "zip": str(zip_path),
        "zip_bytes": zip_path.stat().st_size,
        "unzipped_bytes": unzipped_bytes,
        "files": files,
        "pyc_files": pyc,
        "import_ms": {
            "app_precompiled": summary(ms[API_MODULE], 1),
            "app_source_only": summary(ms["app_source_only"], 1),
            "boto3": summary(ms["boto3"], 1),
        },
        "ratio_precompiled_vs_boto3": ratio(API_MODULE),
        "ratio_source_only_vs_boto3": ratio("app_source_only"),
        "per_function": per_function,
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.cold_start [zip] [runs]`: this figure alone, printed (bench/run.py --only cold
    writes it into the results)."""
    args = sys.argv[1:] if argv is None else argv
    zip_path = Path(args[0]) if args else DEFAULT_ZIP
    print(json.dumps(measure(zip_path, int(args[1]) if len(args) > 1 else 7), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
