"""Settings declared once (chalicelib/config.py): each field's default and environment variable, the
rules the loader applies (types, required settings outside the local stage), and the docs'
mentions of them (README.md and docs/*.md: each page documents the settings of its topic)."""

from __future__ import annotations

import ast
import re
from dataclasses import fields
from pathlib import Path

import pytest

from chalicelib.config import (
    DEPLOYED,
    ConfigurationError,
    Settings,
    declared,
    env_name,
    field_of_env,
    load_settings,
)
from chalicelib.domain.retention import RetentionPolicy
from chalicelib.services.retention import retention_policy
from tests import docs

ROOT = Path(__file__).resolve().parents[2]
DEPLOYED_ENV = {s.name: f"<{s.name}>" for _name, s in declared() if s.required == DEPLOYED}
SECRET = "arn:aws:kms:eu-west-3:123456789012:key/not-to-be-printed"  # pragma: allowlist secret


def test_every_field_but_the_free_form_one_is_read_from_one_variable_of_its_own() -> None:
    names = [variable for _name, s in declared() for variable in s.env]
    assert len(names) == len(set(names))
    assert {f.name for f in fields(Settings)} - {name for name, _ in declared()} == {"extra"}
    assert env_name("sidep_batch_size") == "SIDEP_BATCH_SIZE"
    assert field_of_env("SIDEP_BATCH_SIZE") == "sidep_batch_size"
    assert field_of_env("AWS_DEFAULT_REGION") == "region"  # the region's second name
    assert field_of_env("NOT_A_SETTING") is None


def test_an_empty_environment_gives_the_declared_defaults() -> None:
    assert load_settings({}) == Settings()


def test_each_type_is_parsed_from_its_variable() -> None:
    s = load_settings(
        {
            "SIDEP_BATCH_SIZE": "7",  # int
            "APP_CLIENT_IDS": " a, b,,c ",  # a list
            "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",  # optional
            "PSC_SCOPE": "",  # empty: the default
            "AWS_DEFAULT_REGION": "eu-west-1",
        }
    )
    assert s.sidep_batch_size == 7
    assert s.app_client_ids == ("a", "b", "c")
    assert s.aws_endpoint_url == "http://127.0.0.1:5000"
    assert s.psc_scope == Settings.psc_scope
    assert s.region == "eu-west-1"
    assert load_settings({}).aws_endpoint_url is None
    assert load_settings({"AWS_REGION": "eu-west-3", "AWS_DEFAULT_REGION": "eu-west-1"}).region == "eu-west-3"


@pytest.mark.parametrize("raw", ["ten", "1.5", "0x10"])
def test_a_malformed_integer_names_its_variable_not_its_value(raw: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"SIDEP_BATCH_SIZE": raw})
    assert str(caught.value) == "SIDEP_BATCH_SIZE must be an integer"
    assert caught.value.__cause__ is None  # the parser's message quotes the value: not chained


def test_a_region_outside_the_hds_list_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="HDS"):
        load_settings({"AWS_REGION": "us-east-1"})


def test_the_local_stage_needs_nothing() -> None:
    assert load_settings({"STAGE": "local"}).stage == "local"


def test_a_deployed_stage_runs_with_every_required_setting() -> None:
    s = load_settings({**DEPLOYED_ENV, "STAGE": "prod"})
    assert s.data_key_id == "<DATA_KEY_ID>" and s.records_table == "<RECORDS_TABLE>"


@pytest.mark.parametrize("missing", sorted(DEPLOYED_ENV))
def test_a_deployed_stage_without_a_required_setting_does_not_load(missing: str) -> None:
    env = {**DEPLOYED_ENV, "STAGE": "prod", "DATA_KEY_ID": SECRET, missing: ""}
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env)
    assert missing in str(caught.value)
    assert SECRET not in str(caught.value)  # the names, never a value


def test_a_deployed_stage_does_not_take_a_default_table_name() -> None:
    env = {k: v for k, v in DEPLOYED_ENV.items() if k != "RECORDS_TABLE"}
    with pytest.raises(ConfigurationError, match="RECORDS_TABLE"):
        load_settings({**env, "STAGE": "staging"})
    assert load_settings(env).records_table == Settings.records_table  # locally the default serves


def test_the_retention_defaults_are_the_policy_s() -> None:
    assert retention_policy(load_settings({})) == RetentionPolicy()


# --- the one declaration: no copy elsewhere -----------------------------------------------------


def _docs_text() -> str:
    return "\n".join(page.read_text(encoding="utf-8") for page in docs.pages())


def _documented_settings() -> list[tuple[str, str]]:
    """Each `NAME` the docs write with a default right after it: `NAME` (default) or `NAME`, default."""
    text = _docs_text()
    return re.findall(r"`([A-Z][A-Z0-9_]+)`(?: \(|, (?:default )?)(`[^`]+`|\d[\d,]*(?: h)?)", text)


SETTING_LIKE = re.compile(
    r"_(DAYS|SECONDS|SIZE|ATTEMPTS|CONCURRENCY|MESSAGES|CAPACITY|BYTES|TABLE|KEY_ID|SCOPE)$"
)


def test_every_setting_the_docs_name_exists() -> None:
    text = _docs_text()
    named = {n for n in re.findall(r"`([A-Z][A-Z0-9_]+)`", text) if SETTING_LIKE.search(n)}
    assert named, "the docs name settings"
    assert {n for n in named if field_of_env(n) is None} == set()


def test_every_default_the_docs_give_is_the_declared_one() -> None:
    checked = 0
    for variable, written in _documented_settings():
        name = field_of_env(variable)
        if name is None:
            continue
        default = getattr(Settings, name)
        if written.startswith("`"):
            assert written.strip("`") == default, variable
        else:
            number = int(written.removesuffix(" h").replace(",", ""))
            assert (number * 3600 if written.endswith(" h") else number) == default, variable
        checked += 1
    assert checked >= 12  # the docs give a dozen or more


def _string_constants(path: Path) -> set[str]:
    """The module's string constants, but not the names its `__all__` exports (Python names)."""
    tree = ast.parse(path.read_text())
    exported = {
        id(element)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets)
        for element in ast.walk(node.value)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in exported
    }


def test_every_setting_name_the_code_writes_is_a_declared_one() -> None:
    """A variable the template, the local stack or a tool sets that the loader does not read
    (a typo) would be silently ignored: every name that looks like a setting must be declared."""
    looks_like_one = re.compile(
        r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*_(TABLE|KEY_ID|URL|DAYS|SECONDS|IDS?|BUCKET|SIZE)$"
    )
    # ...and the local stack's own switches (devtools/moto_atomic.py's lock profile), not the service's
    not_settings = {
        "AWS_ACCESS_KEY_ID",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "NATIONAL_ID",
        "DEPISTAGE_MOTO_PROFILE_SECONDS",
    }
    sources = [
        ROOT / "app.py",
        *(p for d in ("chalicelib", "infra", "devtools", "bench") for p in (ROOT / d).rglob("*.py")),
    ]
    undeclared = {
        (path.relative_to(ROOT).as_posix(), value)
        for path in sources
        for value in _string_constants(path)
        if looks_like_one.match(value) and value not in not_settings and field_of_env(value) is None
    }
    assert undeclared == set()
