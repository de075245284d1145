"""The packaged zip (`make package`): the app and the locked packages and nothing else, the botocore
models the code calls, deterministic unchecked bytecode, an app that imports alone."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

from infra.build import BOTOCORE_SERVICES
from infra.lock import LOCK_FILE, canonical, read_lock
from tests.infra.conftest import ROOT

# --- the zip -------------------------------------------------------------------------------------

# What chalice adds of its own: the runtime half of the framework (the Chalice app object).
CHALICE_RUNTIME = frozenset({"chalice/__init__.py", "chalice/app.py"})
DATA_DIR = "chalicelib/data/"  # reference data files (chalicelib/domain/devices.py, insee.py)


def _source_of(name: str) -> str:
    """A bytecode file's source (x/__pycache__/m.cpython-311.pyc -> x/m.py); other names unchanged."""
    if "/__pycache__/" not in f"/{name}" or not name.endswith(".pyc"):
        return name
    folder, _, file = name.rpartition("__pycache__/")
    return folder + file.split(".", 1)[0] + ".py"


def test_the_zip_holds_the_app_and_the_locked_packages_and_nothing_else(real_package: Path) -> None:
    lock = read_lock(ROOT / LOCK_FILE)
    with zipfile.ZipFile(real_package / "deployment.zip") as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        dist_infos = {n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")}
        shipped: dict[str, str] = {}
        allowed = {"app.py", *CHALICE_RUNTIME}
        for dist_info in dist_infos:
            metadata_text = archive.read(f"{dist_info}/METADATA").decode()
            fields = dict(
                line.split(": ", 1) for line in metadata_text.split("\n\n", 1)[0].splitlines() if ": " in line
            )
            shipped[canonical(fields["Name"])] = fields["Version"]
            for row in archive.read(f"{dist_info}/RECORD").decode().splitlines():
                path = row.rsplit(",", 2)[0]
                if not path.startswith("../"):  # console scripts: installed outside, not shipped
                    allowed.add(path)
    # exactly the lock's packages, at the lock's versions
    assert shipped == lock
    runtime_code = {n for n in names if n.startswith("chalicelib/") and not n.startswith(DATA_DIR)}
    assert all(_source_of(n).endswith(".py") for n in runtime_code), sorted(runtime_code)
    # the reference data the runtime reads (device list, INSEE codes): exactly the repository's
    data = {n for n in names if n.startswith(DATA_DIR)}
    assert data == {p.relative_to(ROOT).as_posix() for p in (ROOT / DATA_DIR).iterdir()}
    assert not [n for n in runtime_code if n.startswith("chalicelib/devtools/")]
    stray = sorted(n for n in names if n not in runtime_code | data and _source_of(n) not in allowed)
    assert stray == [], stray[:20]
    # every .py of the project ships beside its bytecode; nothing of the dev tree comes along
    project = {p.relative_to(ROOT).as_posix() for p in (ROOT / "chalicelib").rglob("*.py")}
    assert {n for n in runtime_code if n.endswith(".py")} == project
    assert not {n.split("/", 1)[0] for n in names} & {"devtools", "tests", "infra", "bench", "bin"}


# What names an AWS service in the code: a client or resource call with a literal service name.
_SERVICE_CALL = re.compile(r"""(?:\baws|\._?client|\.resource|create_client)\(\s*["']([a-z0-9-]+)["']""")
# Clients the libraries make themselves: PynamoDB, the encryption SDK, Powertools' SecretsProvider.
_LIBRARY_SERVICES = {"dynamodb", "kms", "secretsmanager"}


def test_the_zip_keeps_the_botocore_model_of_every_service_the_code_calls(real_package: Path) -> None:
    named = {
        match
        for path in [ROOT / "app.py", *(ROOT / "chalicelib").rglob("*.py")]
        for match in _SERVICE_CALL.findall(path.read_text())
    }
    assert named  # the scan does find the calls
    assert named | _LIBRARY_SERVICES <= BOTOCORE_SERVICES, sorted(
        (named | _LIBRARY_SERVICES) - BOTOCORE_SERVICES
    )
    with zipfile.ZipFile(real_package / "deployment.zip") as archive:
        models = {
            n.split("/")[2] for n in archive.namelist() if n.startswith("botocore/data/") and n.count("/") > 3
        }
        assert "botocore/data/endpoints.json" in archive.namelist()
    assert models == BOTOCORE_SERVICES


def test_zip_bytecode_is_unchecked_hash_and_the_archive_deterministic(real_package: Path) -> None:
    with zipfile.ZipFile(real_package / "deployment.zip") as archive:
        names = archive.namelist()
        pyc = "__pycache__/app.cpython-{}{}.pyc".format(*sys.version_info[:2])
        assert pyc in names
        header = archive.read(pyc)[:8]
        flags = struct.unpack("<I", header[4:8])[0]
        assert flags == 0b01  # hash-based, source not checked: valid whatever the mtimes
        infos = archive.infolist()
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos)
        assert [i.filename for i in infos] == sorted(i.filename for i in infos)


def test_packaged_app_imports_alone_without_tracer(real_package: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(real_package / "deployment.zip") as archive:
        archive.extractall(tmp_path)
    code = (
        "import sys; sys.path.insert(0, '.'); import app; "
        # Powertools imports its Tracer module eagerly, but the X-Ray SDK only when a Tracer traces.
        "assert 'aws_xray_sdk' not in sys.modules; print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-B", "-c", code],  # -S: nothing from the dev venv
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={"AWS_DEFAULT_REGION": "eu-west-3", "POWERTOOLS_TRACE_DISABLED": "true", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


# Loaded on first use (a token to verify, a record to seal, a phone number to check), never by the
# import itself: `make bench` measures that import against a bare `import boto3` (bench/cold_start.py).
DEFERRED_AT_IMPORT = (
    "aws_encryption_sdk",
    "cryptography",
    "jwt",
    "requests",
    "phonenumbers",
    "email_validator",
    "pynamodb",  # with the container's DynamoDB adapters, when chalicelib/bootstrap/ builds it
)


def test_packaged_app_import_leaves_per_use_libraries_unloaded(real_package: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(real_package / "deployment.zip") as archive:
        archive.extractall(tmp_path)
    code = (
        "import sys; sys.path.insert(0, '.'); import app; "
        f"print(sorted(m for m in {DEFERRED_AT_IMPORT!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-B", "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={"AWS_DEFAULT_REGION": "eu-west-3", "POWERTOOLS_TRACE_DISABLED": "true", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_chalice_config_keeps_xray_off_and_no_managed_role() -> None:
    import json

    root = Path(__file__).resolve().parents[2]
    config = json.loads((root / ".chalice" / "config.json").read_text())
    prod = config["stages"]["prod"]
    assert prod["xray"] is False and prod["manage_iam_role"] is False
    assert "local" in config["stages"]
