"""The layers, by their imports: the domain knows nothing else, ports know only the domain, adapters
implement ports without reaching into services or the API, services use ports (never an adapter),
and the API reaches adapters only through the bootstrap's wiring.

Every import counts: at the top, inside a function, under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "chalicelib"

# layer → the chalicelib modules it must not import (by prefix)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "chalicelib.domain": (
        "chalicelib.api",
        "chalicelib.services",
        "chalicelib.adapters",
        "chalicelib.ports",
        "chalicelib.bootstrap",
        "chalicelib.config",
        "chalicelib.jobs",
        "chalicelib.observability",
    ),
    "chalicelib.adapters": (
        "chalicelib.services",
        "chalicelib.api",
        "chalicelib.bootstrap",
        "chalicelib.jobs",
    ),
    "chalicelib.services": (
        "chalicelib.adapters",
        "chalicelib.api",
        "chalicelib.bootstrap",
        "chalicelib.jobs",
    ),
    "chalicelib.api": ("chalicelib.adapters",),
}
# Ports import nothing of chalicelib but the domain.
PORTS = "chalicelib.ports"
# (importer, imported): the violations knowingly left, each with its reason. Keep it short.
ALLOWED: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            for alias in node.names:  # `from chalicelib.services import export` imports a module
                candidate = ROOT.joinpath(*f"{target}.{alias.name}".split("."))
                if candidate.with_suffix(".py").is_file() or candidate.is_dir():
                    found.add(f"{target}.{alias.name}")
    return {name for name in found if name == "chalicelib" or name.startswith("chalicelib.")}


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _violations() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for module, path in MODULES.items():
        imported = _imports(path, module)
        for layer, forbidden in FORBIDDEN.items():
            if _under(module, layer):
                found += [(module, name) for name in imported if any(_under(name, f) for f in forbidden)]
        if _under(module, PORTS):
            found += [
                (module, name)
                for name in imported
                if not _under(name, "chalicelib.domain") and name != "chalicelib" and not _under(name, PORTS)
            ]
    return sorted(set(found))


def test_the_walk_sees_every_layer_and_every_import() -> None:
    assert {"chalicelib.ports", "chalicelib.domain.errors", "chalicelib.api.records"} <= set(MODULES)
    # the bootstrap wires adapters into services: its imports show both, lazy ones included
    wiring = _imports(MODULES["chalicelib.bootstrap"], "chalicelib.bootstrap")
    assert {"chalicelib.adapters.clock", "chalicelib.services.admin", "chalicelib.adapters.sidep"} <= wiring


def test_an_import_anywhere_in_a_module_counts(tmp_path: Path) -> None:
    source = tmp_path / "chalicelib" / "adapters" / "x.py"
    source.parent.mkdir(parents=True)
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from chalicelib.services import export\n"
        "def f():\n    import chalicelib.api.problems\n    from ..domain import errors\n"
    )
    found = _imports(source, "chalicelib.adapters.x")
    assert {"chalicelib.services.export", "chalicelib.api.problems", "chalicelib.domain.errors"} <= found


def test_no_layer_imports_what_it_must_not() -> None:
    unexpected = [pair for pair in _violations() if pair not in ALLOWED]
    assert unexpected == [], "\n".join(f"{a} imports {b}" for a, b in unexpected)


def test_every_allowed_violation_still_exists() -> None:
    """An allowance outlives its violation only by mistake: remove it when the import goes."""
    assert set(ALLOWED) <= set(_violations())


# The handler modules of the scheduled and stream functions (their template's handlers): a cold
# function imports its handler module first, so none reaches the API's declarations or the
# container; tests/infra/test_function_imports.py checks what they load once built.
JOB_HANDLERS = ("chalicelib.api.schedules", "chalicelib.api.streams", "chalicelib.api.identity_events")
NOT_IN_JOB_HANDLERS = ("chalicelib.payloads", "chalicelib.bootstrap", "chalicelib.services.export")


def test_the_handler_modules_of_the_jobs_import_no_payload_and_no_container() -> None:
    found = [
        (module, name)
        for module in JOB_HANDLERS
        for name in _imports(MODULES[module], module)
        if any(_under(name, banned) for banned in NOT_IN_JOB_HANDLERS)
    ]
    assert found == []


def _aws_client_calls(tree: ast.AST) -> list[str]:
    """Methods called on an AWS client got from the container (`core.aws.sqs().send_message(...)`,
    or through a name bound to one): a job calling AWS itself rather than through a port."""

    def is_client(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Attribute)
            and node.func.value.attr == "aws"
        )

    bound = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and is_client(node.value)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    return [
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and (is_client(node.value) or (isinstance(node.value, ast.Name) and node.value.id in bound))
    ]


def test_the_jobs_reach_aws_only_through_ports_and_adapters() -> None:
    """chalicelib/jobs.py wires adapters (it hands them a client) but never calls a client itself."""
    source = MODULES["chalicelib.jobs"].read_text(encoding="utf-8")
    tree = ast.parse(source)
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if name.split(".")[0] in ("boto3", "botocore")}
    assert _aws_client_calls(tree) == []
    # the walk sees a job calling SQS itself, as the fan-out once did
    direct = "sqs = get_container().aws.sqs()\nsqs.send_message_batch(QueueUrl=url, Entries=[])\n"
    assert _aws_client_calls(ast.parse(direct)) == ["send_message_batch"]
