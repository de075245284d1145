"""Static checks: bandit on the code, pip-audit on the Lambda's runtime dependencies."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from devtools.stack import PROJECT_DIR
from infra.lock import LOCK_FILE, read_lock


def test_bandit_reports_no_high_severity_finding(tmp_path: Path) -> None:
    """Accepted findings carry `# nosec BXXX: reason` where they are; a high one fails the suite."""
    report = tmp_path / "bandit.json"
    subprocess.run(
        [sys.executable, "-m", "bandit", "-r", "chalicelib", "app.py", "-q", "-f", "json", "-o", str(report)],
        cwd=PROJECT_DIR,
        check=False,
        capture_output=True,
        timeout=300,
    )
    results = json.loads(report.read_text())
    assert results["errors"] == []
    high = [
        f"{r['test_id']} {r['filename']}:{r['line_number']} {r['issue_text']}"
        for r in results["results"]
        if r["issue_severity"] == "HIGH"
    ]
    assert high == [], "\n".join(high)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_closure(requirements: Path) -> dict[str, str]:
    """The installed versions of requirements.txt and everything they pull in (what the Lambda ships)."""
    lines = [line.split("#", 1)[0].strip() for line in requirements.read_text().splitlines()]
    todo = [Requirement(line) for line in lines if line and not line.startswith("-")]
    found: dict[str, str] = {}
    while todo:
        requirement = todo.pop()
        name = _canonical(requirement.name)
        if name in found:
            continue
        dist = metadata.distribution(requirement.name)
        found[name] = dist.version
        extras = set(requirement.extras) | {""}
        for text in dist.requires or []:
            dependency = Requirement(text)
            if dependency.marker is None or any(dependency.marker.evaluate({"extra": e}) for e in extras):
                todo.append(dependency)
    return found


def test_the_lock_pins_the_whole_runtime_closure_and_is_installed_as_pinned() -> None:
    lock = read_lock(PROJECT_DIR / LOCK_FILE)
    # every package the declared runtime requirements pull in is in the lock, and nothing else
    assert runtime_closure(PROJECT_DIR / "requirements.in") == lock
    for line in (PROJECT_DIR / "requirements.in").read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            requirement = Requirement(text)
            assert lock[_canonical(requirement.name)] in requirement.specifier, requirement.name
    for name, version in lock.items():
        assert metadata.version(name) == version, f"{name} differs from the lock"
    # dev-only packages never come back into the runtime set
    assert not {"pydantic", "hl7apy", "phonenumbers", "uv", "chalice"} & set(lock)


def test_pip_audit_finds_no_known_vulnerability_in_the_runtime_dependencies(tmp_path: Path) -> None:
    pinned = PROJECT_DIR / LOCK_FILE  # the lock, hashes and all, exactly as the Lambda installs it
    closure = read_lock(pinned)
    report = tmp_path / "audit.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip_audit",
            "-r",
            str(pinned),
            "--no-deps",
            "--disable-pip",
            "--progress-spinner",
            "off",
            "--timeout",
            "20",
            "-f",
            "json",
            "-o",
            str(report),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if not report.is_file() or not report.read_text().strip():
        unreachable = ("ConnectionError", "ProxyError", "Timeout", "Max retries exceeded", "NameResolution")
        assert any(marker in completed.stderr for marker in unreachable), completed.stderr[-3000:]
        pytest.skip(
            "pip-audit could not reach the vulnerability service (PyPI); runtime dependencies NOT audited:\n"
            + completed.stderr[-1500:]
        )
    dependencies = json.loads(report.read_text())["dependencies"]
    assert {_canonical(d["name"]) for d in dependencies} >= set(closure)
    vulnerable = [
        f"{d['name']} {d['version']}: {', '.join(v['id'] for v in d['vulns'])}"
        for d in dependencies
        if d.get("vulns")
    ]
    assert vulnerable == [], "\n".join(vulnerable)
