"""The tests' own layout: a test's kind is its folder, unit tests reach no AWS, every port has a fake."""

from __future__ import annotations

import ast
import inspect
import tomllib
from pathlib import Path

import chalicelib.adapters.insi as insi
import chalicelib.ports as ports
import testkit.fakes as fakes
from tests.layout import TESTS_DIR, folder_of

# What a unit test may not import: anything that reaches AWS or moto, or the moto-backed fixtures.
NOT_IN_UNIT_TESTS = (
    "moto",
    "boto3",
    "botocore",
    "pynamodb",
    "chalicelib.adapters.dynamodb",
    "tests.conftest",
)


def _declared_markers() -> set[str]:
    config = tomllib.loads((TESTS_DIR.parent / "pyproject.toml").read_text())
    return {entry.split(":", 1)[0] for entry in config["tool"]["pytest"]["ini_options"]["markers"]}


def _test_modules() -> list[Path]:
    return sorted(TESTS_DIR.rglob("test_*.py"))


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_every_folder_of_tests_has_its_marker_and_every_marker_its_folder() -> None:
    folders = {folder_of(path) for path in _test_modules()}
    assert folders == _declared_markers()


def test_no_test_module_gives_itself_a_folder_s_marker() -> None:
    """tests/conftest.py gives each test its folder's marker; a module that set one could lie."""
    kinds = _declared_markers()
    for path in _test_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in kinds:
                value = node.value
                assert not (isinstance(value, ast.Attribute) and value.attr == "mark"), (path, node.attr)


def test_unit_tests_import_nothing_that_reaches_aws() -> None:
    for path in sorted((TESTS_DIR / "unit").glob("test_*.py")):
        for name in _imports(path):
            assert not any(name == banned or name.startswith(banned + ".") for banned in NOT_IN_UNIT_TESTS), (
                path.name,
                name,
            )


def _members(protocol: type) -> set[str]:
    return {name for name in vars(protocol) if not name.startswith("_")}


def test_every_port_has_an_in_memory_fake() -> None:
    """So that each service is tested without moto (tests/unit/test_*_service.py)."""
    protocols = [
        cls
        for cls in vars(ports).values()
        if inspect.isclass(cls)
        and getattr(cls, "_is_protocol", False)
        and cls.__module__.startswith(ports.__name__ + ".")
    ]
    fake_modules = (fakes, insi)  # insi's FakeInsi is also the local stage's INSi
    candidates = [
        cls
        for module in fake_modules
        for name, cls in vars(module).items()
        if (inspect.isclass(cls) and cls.__module__ == module.__name__ and name.startswith("Fake"))
        or (inspect.isclass(cls) and name == "FixedClock")
    ]
    assert len(protocols) >= 15
    for protocol in protocols:
        assert any(_members(protocol) <= set(dir(fake)) for fake in candidates), protocol.__name__
