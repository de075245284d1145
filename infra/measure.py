"""Size and cold import time of the packaged app: `python -m infra.measure build/package/deployment.zip`.

Each import runs in a fresh interpreter (-S: no site-packages, -B: no bytecode written, as on
Lambda's read-only /var/task) with only the unzipped package on sys.path, and the median of
several runs is kept. Compared: `import app` with the precompiled bytecode, the same without it
(sources only), and a bare `import boto3` as the floor every Python Lambda pays.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from infra.bytecode import extract

_TIMER = (
    "import sys, time\n"
    "sys.path.insert(0, {root!r})\n"
    "start = time.perf_counter()\n"
    "import {module}\n"
    "print(time.perf_counter() - start)\n"
)

# The app reads its settings when asked, not at import; these only keep an import honest.
_ENV = {
    "AWS_DEFAULT_REGION": "eu-west-3",
    "AWS_REGION": "eu-west-3",
    "STAGE": "prod",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "1",
}


def _tree_size(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def time_import(root: Path, module: str, runs: int, python: str = sys.executable) -> list[float]:
    env = {"PATH": os.environ.get("PATH", ""), **_ENV}
    samples = []
    for _ in range(runs):
        out = subprocess.run(  # noqa: S603 - our interpreter, our code
            [python, "-S", "-B", "-c", _TIMER.format(root=str(root), module=module)],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return samples


def measure(zip_path: str | Path, runs: int = 5, python: str = sys.executable) -> dict[str, Any]:
    """Zip and unzipped sizes, and median import times (seconds) of app and boto3."""
    zip_path = Path(zip_path)
    with tempfile.TemporaryDirectory(prefix="measure-") as tmp:
        compiled = Path(tmp) / "compiled"
        source = Path(tmp) / "source"
        extract(zip_path, compiled)
        unzipped_bytes, files = _tree_size(compiled)
        pyc = sum(1 for _ in compiled.rglob("*.pyc"))
        shutil.copytree(compiled, source, ignore=shutil.ignore_patterns("__pycache__"))
        app_compiled = time_import(compiled, "app", runs, python)
        app_source = time_import(source, "app", runs, python)
        boto3 = time_import(compiled, "boto3", runs, python)
    return {
        "zip_bytes": zip_path.stat().st_size,
        "unzipped_bytes": unzipped_bytes,
        "files": files,
        "pyc_files": pyc,
        "runs": runs,
        "import_app_precompiled_s": statistics.median(app_compiled),
        "import_app_source_only_s": statistics.median(app_source),
        "import_boto3_s": statistics.median(boto3),
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    zip_path = args[0] if args else "build/package/deployment.zip"
    runs = int(args[1]) if len(args) > 1 else 5
    print(json.dumps(measure(zip_path, runs), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
