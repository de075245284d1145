"""Packaging fixtures: each package is built once per test run, shared by the xdist workers."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infra.build import build

ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = ROOT / ".venv-tools" / "bin"

FAKE_APP = """
from chalice import Chalice

app = Chalice(app_name="depistage")


@app.route("/v1/health")
def health():
    return {"status": "ok"}


@app.schedule("rate(5 minutes)")
def export_to_sidep(event):
    return None


@app.schedule("rate(1 hour)")
def purge_expired(event):
    return None


@app.schedule("rate(1 hour)")
def checkpoint_audit(event):
    return None

@app.on_dynamodb_record(
    stream_arn="arn:aws:dynamodb:eu-west-3:000000000000:table/set-by-infra-build/stream/set-by-infra-build",
    name="audit_to_worm",
)
def audit_to_worm(event):
    return None
"""


def _shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    # Under xdist every worker has its own basetemp inside the run's: share the run's.
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    shared = _shared_dir(tmp_path_factory)
    out = shared / name
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "done").exists():
            if out.exists():
                shutil.rmtree(out)
            make(out)
            (out / "done").write_text("ok")
    return out


def _build(project: Path, out: Path) -> None:
    build(project, out / "package", region="eu-west-3", stage="prod")


@pytest.fixture(scope="session")
def real_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project packaged as `make package` does (chalice fetches the wheels once, then caches)."""
    return _once(tmp_path_factory, "real", lambda out: _build(ROOT, out)) / "package"


@pytest.fixture(scope="session")
def fake_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny app with the API and the scheduled functions, with the project's chalice config."""

    def make(out: Path) -> None:
        project = out / "project"
        (project / ".chalice").mkdir(parents=True)
        (project / "app.py").write_text(FAKE_APP)
        (project / "requirements.txt").write_text("")
        shutil.copy2(ROOT / ".chalice" / "config.json", project / ".chalice" / "config.json")
        _build(project, out)

    return _once(tmp_path_factory, "fake", make)


@pytest.fixture(scope="session")
def fake_package(fake_project: Path) -> Path:
    return fake_project / "package"


def load_template(package: Path) -> dict[str, Any]:
    template: dict[str, Any] = json.loads((package / "sam.json").read_text())
    return template


def run_cfn_lint(template: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), "--format", "parseable", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )


def run_checkov(template: Path) -> dict[str, Any]:
    checkov = TOOLS_BIN / "checkov"
    assert checkov.exists(), "checkov lives in .venv-tools: run `make tools` (make test does it)"
    result = subprocess.run(
        # --skip-download: no call to the vendor's platform, the checks ship with the package
        [str(checkov), "-f", str(template), "--framework", "cloudformation", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    report: dict[str, Any] = json.loads(result.stdout)
    report["returncode"] = result.returncode
    return report
