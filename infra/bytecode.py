"""Precompile a Lambda deployment zip and rewrite it deterministically.

/var/task is read-only in Lambda, so a package shipped without bytecode is compiled again on
every cold start. The .pyc files use unchecked-hash invalidation: they are valid whatever
mtimes the zip carries, and nothing can change the sources beside them in the package.
"""

from __future__ import annotations

import compileall
import os
import py_compile
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

LAMBDA_TASK_ROOT = "/var/task"
_EPOCH = (1980, 1, 1, 0, 0, 0)


def check_runtime(runtime: str) -> None:
    """Bytecode is specific to a Python minor version: it must be the Lambda runtime's."""
    match = re.fullmatch(r"python(\d+)\.(\d+)", runtime)
    if not match:
        raise ValueError(f"not a Python runtime: {runtime}")
    wanted = (int(match[1]), int(match[2]))
    if sys.version_info[:2] != wanted:
        raise RuntimeError(
            f"precompiling for {runtime} needs Python {wanted[0]}.{wanted[1]}, "
            f"this is {sys.version_info[0]}.{sys.version_info[1]}"
        )


def extract(zip_path: Path, dest: Path) -> None:
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            target = dest / info.filename
            if not target.resolve().is_relative_to(dest.resolve()):
                raise ValueError(f"unsafe path in zip: {info.filename}")
            archive.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                os.chmod(target, mode)


def write_deterministic_zip(src: Path, zip_path: Path) -> None:
    """Sorted entries, fixed timestamps and modes: the same tree gives the same bytes."""
    files = sorted((p for p in src.rglob("*") if p.is_file()), key=lambda p: p.relative_to(src).as_posix())
    tmp = zip_path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in files:
            name = path.relative_to(src).as_posix()
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            executable = os.stat(path).st_mode & 0o111
            info.external_attr = ((0o100755 if executable else 0o100644) & 0xFFFF) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    tmp.replace(zip_path)


def precompile_tree(root: Path) -> bool:
    """Compile every module under root; False if some file did not compile (it then runs from source)."""
    return bool(
        compileall.compile_dir(
            str(root),
            quiet=2,
            ddir=LAMBDA_TASK_ROOT,  # tracebacks name the paths Lambda runs from
            workers=0,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    )


def precompile_zip(zip_path: Path, runtime: str) -> dict[str, int]:
    """Add __pycache__ bytecode for `runtime` to the zip, in place. Returns counts."""
    check_runtime(runtime)
    with tempfile.TemporaryDirectory(prefix="lambda-zip-") as tmp:
        root = Path(tmp) / "task"
        root.mkdir()
        extract(zip_path, root)
        for stale in list(root.rglob("__pycache__")):
            shutil.rmtree(stale)  # whatever a build host left, for another interpreter
        precompile_tree(root)
        sources = sum(1 for _ in root.rglob("*.py"))
        compiled = sum(1 for _ in root.rglob("*.pyc"))
        write_deterministic_zip(root, zip_path)
    return {"py_files": sources, "pyc_files": compiled}
