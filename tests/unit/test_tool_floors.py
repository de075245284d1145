"""The floors of the repository, by their imports: the runtime (chalicelib, app.py) stands alone; the
template is generated from the runtime alone; the shared test helpers (testkit/) serve the tests, the
bench and infra; nothing but the tests imports tests/.

Every import counts: at the top, inside a function, under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("chalicelib", "testkit", "devtools", "operations", "infra", "bench", "tests")
PROJECT = frozenset({*FOLDERS, "app"})

# importer (a folder, or a module by its dotted name) → the project's packages it must not import
FORBIDDEN: dict[str, frozenset[str]] = {
    "chalicelib": PROJECT - {"chalicelib"},
    "app": PROJECT - {"chalicelib"},
    "infra.template": PROJECT - {"chalicelib", "infra"},
    "infra": frozenset({"tests", "bench", "operations"}),
    "testkit": frozenset({"tests", "bench", "operations", "infra"}),
    "devtools": frozenset({"tests", "bench", "infra"}),
    "operations": frozenset({"tests", "testkit", "bench"}),
    "bench": frozenset({"tests", "operations"}),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_tops(path: Path) -> set[str]:
    """The project's top-level packages `path` imports (relative imports stay in its own package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module)
    return {name.split(".")[0] for name in names} & PROJECT


def _rule_for(module: str) -> frozenset[str]:
    """The most specific rule: a module's own, else its package's, else its folder's."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        rule = FORBIDDEN.get(".".join(parts[:end]))
        if rule is not None:
            return rule
    return frozenset()


def _modules() -> dict[str, Path]:
    found = {"app": ROOT / "app.py"}
    for folder in FOLDERS:
        found.update({_module_name(path): path for path in sorted((ROOT / folder).rglob("*.py"))})
    return found


def _violations() -> list[str]:
    return sorted(
        f"{module} imports {top}"
        for module, path in _modules().items()
        for top in _imported_tops(path) & _rule_for(module)
    )


def test_the_walk_sees_every_floor() -> None:
    modules = _modules()
    assert {"app", "chalicelib.bootstrap", "testkit.fakes", "operations.status", "infra.template"} <= set(
        modules
    )
    assert "chalicelib" in _imported_tops(modules["app"])


def test_an_import_inside_a_function_counts(tmp_path: Path) -> None:
    source = tmp_path / "x.py"
    source.write_text("def f():\n    from tests.conftest import World\n    import bench.run\n")
    assert _imported_tops(source) == {"tests", "bench"}


def test_the_most_specific_rule_applies() -> None:
    assert "devtools" in _rule_for("infra.template.tables")
    assert "devtools" not in _rule_for("infra.rehearse")
    assert "tests" in _rule_for("testkit.harness")


def test_no_floor_imports_what_is_above_it_and_nothing_imports_the_tests() -> None:
    assert _violations() == []


MAX_RUNTIME_MODULE_LINES = 500


def test_no_module_of_the_runtime_is_longer_than_a_newcomer_reads_at_once() -> None:
    """chalicelib/ stays in small files along its sections (docs/architecture.md)."""
    long = {
        name: lines
        for name, path in _modules().items()
        if name.split(".")[0] in {"chalicelib", "app"}
        and (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_RUNTIME_MODULE_LINES
    }
    assert long == {}
