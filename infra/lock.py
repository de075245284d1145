"""The runtime lock (requirements.txt): every package the Lambda ships, pinned, with hashes.

requirements.in names what the code imports; `make lock` resolves it into requirements.txt.
`make install` and `make package` (infra.build) both install the lock with --require-hashes,
so the tests and the Lambda run the same bytes, and two builds of one commit are the same.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement

LOCK_FILE = "requirements.txt"
# Lambda's python3.11 runs on Amazon Linux 2 (glibc 2.26): wheels for that glibc or older.
LAMBDA_PLATFORMS = (
    "manylinux_2_26_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
)


class LockError(RuntimeError):
    pass


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, str]:
    """Canonical package name -> pinned version; every entry must be `==` with at least one hash."""
    text = path.read_text().replace("\\\n", " ")  # one logical line per package
    pins: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        requirement_text, *hashes = line.split(" --hash=")
        requirement = Requirement(requirement_text.strip())
        versions = [spec.version for spec in requirement.specifier if spec.operator == "=="]
        if len(versions) != 1:
            raise LockError(f"{requirement.name} is not pinned with == in {path.name}")
        if not hashes or not all(h.strip().startswith("sha256:") for h in hashes):
            raise LockError(f"{requirement.name} has no sha256 hash in {path.name}")
        pins[canonical(requirement.name)] = versions[0]
    return pins


def install_lock(lock: Path, target: Path, python_version: tuple[int, int] | None = None) -> None:
    """Install the lock's wheels for Lambda (Linux x86_64, CPython) into target: hashes checked,
    nothing resolved (the lock is the closure), no scripts, no host bytecode."""
    major, minor = python_version or sys.version_info[:2]
    platforms = [arg for platform in LAMBDA_PLATFORMS for arg in ("--platform", platform)]
    result = subprocess.run(  # noqa: S603 - our interpreter's pip, fixed argv
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--require-hashes",
            "--no-deps",
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            f"{major}.{minor}",
            *platforms,
            "--no-compile",
            "--target",
            str(target),
            "-r",
            str(lock),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise LockError(f"installing {lock.name} failed:\n{result.stdout}\n{result.stderr}")
    scripts = target / "bin"  # console scripts of the packages: not runtime code
    if scripts.is_dir():
        for path in sorted(scripts.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        scripts.rmdir()
