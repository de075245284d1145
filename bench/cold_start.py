"""Figure 4: cold start. Import time of `app` from the packaged, unzipped deployment (with and
without the precompiled bytecode) against a bare `import boto3` in the same run, and the sizes.
infra/measure.py's helpers do the work (each import in a fresh interpreter, -S -B, only the
unzipped package on sys.path); here every sample is kept for the spread, and the three imports
are interleaved so that a change of load hits them alike."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from bench.common import summary

DEFAULT_ZIP = Path("build/package/deployment.zip")


def measure(zip_path: Path = DEFAULT_ZIP, runs: int = 7) -> dict[str, Any]:
    if not zip_path.is_file():
        return {"skipped": f"no package at {zip_path}: run `make package` (make bench does)"}
    from infra.bytecode import extract
    from infra.measure import _tree_size, time_import

    samples: dict[str, list[float]] = {"app_precompiled": [], "app_source_only": [], "boto3": []}
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        compiled, source = Path(tmp) / "compiled", Path(tmp) / "source"
        extract(zip_path, compiled)
        unzipped_bytes, files = _tree_size(compiled)
        pyc = sum(1 for _ in compiled.rglob("*.pyc"))
        shutil.copytree(compiled, source, ignore=shutil.ignore_patterns("__pycache__"))
        for _ in range(runs):
            samples["app_precompiled"] += time_import(compiled, "app", 1)
            samples["app_source_only"] += time_import(source, "app", 1)
            samples["boto3"] += time_import(compiled, "boto3", 1)
    ms = {name: [1000 * s for s in values] for name, values in samples.items()}
    return {
        "zip": str(zip_path),
        "zip_bytes": zip_path.stat().st_size,
        "unzipped_bytes": unzipped_bytes,
        "files": files,
        "pyc_files": pyc,
        "import_ms": {name: summary(values, 1) for name, values in ms.items()},
        "ratio_precompiled_vs_boto3": summary(
            [a / b for a, b in zip(ms["app_precompiled"], ms["boto3"], strict=True)], 2
        ),
        "ratio_source_only_vs_boto3": summary(
            [a / b for a, b in zip(ms["app_source_only"], ms["boto3"], strict=True)], 2
        ),
    }
