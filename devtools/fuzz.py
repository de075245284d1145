"""Fuzz the running local stack with schemathesis, from its OpenAPI description, as a real client.

    python -m devtools.fuzz [--stack .local/stack.json] [--max-examples 500] [--seed N]

Logs in as the stack's pharmacist (Cognito password + TOTP: a real access token), then runs
`schemathesis run` with every phase (explicit examples, coverage, fuzzing, and stateful sequences
along the document's links: create → read → set result → delivery → cancel) and every check but
`positive_data_acceptance` (a schema cannot say the NIR's key nor its agreement with sex and birth
date, so a schema-valid body may rightly get 400) and `use_after_free` (a cancelled test stays
readable). Checks of our own (problem+json on every error, no-store and the security headers on
every response, Retry-After on 503, no personal value echoed in an error) are registered from
this module through SCHEMATHESIS_HOOKS. Request bodies of POST /v1/tests are drawn half the time
from valid patients, so that the links are reached.

`make test` runs a bounded version (tests/robustness); `make fuzz` a long one. Loopback only. If no
stack answers at --stack, one is started on free ports in a temp dir and stopped at the end.
"""

from __future__ import annotations

import argparse
import ast
import functools
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chalicelib.domain.devices import device_list

HOOKS_MODULE = "devtools.fuzz"
FUZZ_USER = "pharmacist-a"
# Routes fuzzed as another seeded user, so that they get past the role check.
# The pharmacy settings route goes to a user it refuses: turning "PSC required" on for pharmacy A
# would refuse the fuzz user (a Cognito pharmacist of A) for the rest of the run, and the other
# stack tests after it (tests/api and tests/security exercise the setting itself).
ROUTE_USERS = {
    "^/v1/admin/pharmacies(/[^/]+/members(/[^/]+)?)?$": "operator",
    "^/v1/admin/pharmacies/[^/]+/settings$": "pharmacist-b",
    "^/v1/audit$": "admin-a",
    "^/v1/stats$": "admin-a",
    "^/v1/session/logout$": "admin-b",
}
# how long the schemathesis process may run before it is stopped
RUN_TIMEOUT_SECONDS = 3600
# devices a fuzzed valid body may name: on the shipped EU common list and still active
ACTIVE_DEVICES = sorted(d.id for d in device_list().devices.values() if d.active)
# Only what may rightly differ from a schema is left out (see the module docstring), and
# `use_after_free`: DELETE of a test cancels it, and a cancelled test stays readable with the status
# `cancelled` (the pharmacy's record of what it did; ../shared/CONTRACT.md lists that status).
# unsupported_method: API Gateway answers a method the API does not declare as an unknown route (its
# DEFAULT_4XX response, a 404: chalicelib/api/gateway.py), and the local stack answers as it does;
# the hooks still check that answer's problem+json and headers.
EXCLUDED_CHECKS = ("positive_data_acceptance", "use_after_free", "unsupported_method")

# Undeclared methods the coverage phase sends (their answer checked by the hooks). Not TRACE nor
# QUERY: API Gateway does not forward them.
CONFIG = """
[phases.coverage]
unexpected-methods = ["get", "put", "post", "delete", "options", "patch"]

# A batch answers 200 with each invalid item's errors (docs/api.md): an item that breaks the
# schema is reported in the answer, not refused with the batch. So its requests are generated
# valid only (tests/api/test_batches_api.py sends the invalid ones).
[[operations]]
include-path = "/v1/test-batches"
generation.mode = "positive"
"""


def _operation_headers(tokens: dict[str, str]) -> str:
    blocks = [
        f'[[operations]]\ninclude-path-regex = "{regex}"\n'
        f'headers = {{ Authorization = "Bearer {tokens[user]}" }}\n'
        for regex, user in ROUTE_USERS.items()
    ]
    return "\n" + "\n".join(blocks)


@dataclass(frozen=True)
class FuzzResult:
    exit_code: int
    examples: int  # test cases schemathesis generated and sent
    failures: int  # unique failures it found
    output: str
    report: dict[str, Any]


def _loopback(url: str) -> str:
    host = urlsplit(url).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing to fuzz {url}: only the local stack on the loopback is a target")
    return url


def _count(report: dict[str, Any]) -> tuple[int, int]:
    """Generated test cases and unique failures, from schemathesis' JSON run report."""
    cases = report.get("test_cases") or {}
    return int(cases.get("generated") or 0), int(cases.get("unique_failures") or 0)


def run(
    stack: dict[str, Any],
    workdir: Path,
    *,
    max_examples: int,
    scenarios: int | None = None,
    seed: int | None = None,
    max_time: int | None = None,
) -> FuzzResult:
    """Fuzz the stack described by `stack` (a parsed stack.json); reports go to `workdir`."""
    from chalicelib.api.openapi import document
    from devtools.login import login_stack_user

    api_url = _loopback(stack["api_url"])
    workdir.mkdir(parents=True, exist_ok=True)
    schema_file = workdir / "openapi.json"
    schema_file.write_text(json.dumps(document()))
    tokens = {
        user: login_stack_user(stack, user)["AccessToken"] for user in (*ROUTE_USERS.values(), FUZZ_USER)
    }
    token = tokens[FUZZ_USER]
    report_file = workdir / "report.json"
    config_file = workdir / "schemathesis.toml"
    # The tokens go in the config (a temp dir), not the command line another process could read.
    default_auth = f'headers = {{ Authorization = "Bearer {token}" }}\n'
    # The stateful phase draws each scenario's links at random; with few scenarios a link out of the
    # create response (there are five) may go unwalked, so it gets its own, larger budget.
    stateful = f"\n[phases.stateful.generation]\nmax-examples = {scenarios}\n" if scenarios else ""
    config_file.write_text(default_auth + CONFIG + stateful + _operation_headers(tokens))
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config_file),
        "--no-color",
        "run",
        str(schema_file),
        "--url",
        api_url,
        "--checks",
        "all",
        "--exclude-checks",
        ",".join(EXCLUDED_CHECKS),
        "--max-examples",
        str(max_examples),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--suppress-health-check",
        "too_slow,filter_too_much",
        "--report",
        "json,junit",
        "--report-dir",
        str(workdir),
        "--report-json-path",
        str(report_file),
        "--output-truncate",
        "true",
    ]
    if seed is not None:
        command += ["--seed", str(seed)]
    if max_time is not None:
        command += ["--max-time", str(max_time)]
    from devtools.stack import PROJECT_DIR

    python_path = os.pathsep.join(p for p in (str(PROJECT_DIR), os.environ.get("PYTHONPATH", "")) if p)
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": HOOKS_MODULE,
        "PYTHONPATH": python_path,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    env["FUZZ_TODAY"] = date.today().isoformat()
    completed = subprocess.run(
        command,
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    output = completed.stdout + completed.stderr
    for secret in tokens.values():
        output = output.replace(secret, "<token>")
    report: dict[str, Any] = {}
    if report_file.is_file():
        try:
            report = json.loads(report_file.read_text())
        except ValueError:
            report = {}
    examples, failures = _count(report)
    return FuzzResult(completed.returncode, examples, failures, output, report)


# --- hooks, loaded by schemathesis through SCHEMATHESIS_HOOKS ------------------------------------

_SECURITY_HEADERS = ("cache-control", "x-content-type-options", "x-frame-options", "content-security-policy")


def _personal_values(body: Any) -> list[str]:
    """The submitted patient's values long enough to recognise if an error echoed them."""
    patient = body.get("patient") if isinstance(body, dict) else None
    if not isinstance(patient, dict):
        return []
    values = [patient.get(name) for name in ("nir", "last_name", "first_name", "email", "phone")]
    return [v for v in values if isinstance(v, str) and len(v.strip()) >= 6]


_WORD = re.compile(r"\w+")


@functools.cache
def _fixed_vocabulary() -> frozenset[str]:
    """Every word the service's own text may use: chalicelib's string literals (error titles and
    details, field names, messages; f-strings' fixed parts too), case-folded. Not docstrings, nor
    the OpenAPI description modules: they are never in a response's error text, and the latter
    hold the example patient ("Dupont"), which the fuzzer sends and whose echo must still count."""
    from devtools.stack import PROJECT_DIR

    words: set[str] = set()
    for source in sorted((PROJECT_DIR / "chalicelib").rglob("*.py")):
        if source.name.endswith("openapi.py"):
            continue
        tree = ast.parse(source.read_text(encoding="utf-8"))
        docstrings = {
            id(node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                words.update(_WORD.findall(node.value.casefold()))
    return frozenset(words)


def echoed_values(body: Any, text: str) -> list[str]:
    """The submitted personal values that an error's text repeats.

    A value made only of words of our fixed vocabulary is left out: a drawn last name "invalid"
    is found in "The request has invalid fields." whether echoed or not, so its presence proves
    nothing (and no echo of such a value could be told from our own text). Any other value found
    anywhere in the text, even inside a word, is an echo."""
    vocabulary = _fixed_vocabulary()
    echoed = []
    for value in _personal_values(body):
        words = _WORD.findall(value.casefold())
        if words and all(word in vocabulary for word in words):
            continue
        if value in text:
            echoed.append(value)
    return echoed


def _nir(sex: str, born: date, departement: int, commune: int, order: int) -> str:
    head = f"{1 if sex == 'M' else 2}{born.year % 100:02d}{born.month:02d}{departement:02d}"
    head += f"{commune:03d}{order:03d}"
    return f"{head}{97 - int(head) % 97:02d}"


def valid_submissions() -> Any:
    """A hypothesis strategy of POST /v1/tests bodies that pass every rule of the server."""
    from hypothesis import strategies as st

    today = date.fromisoformat(os.environ.get("FUZZ_TODAY") or date.today().isoformat())
    letters = st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzéèàçABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=20
    )

    @st.composite
    def build(draw: Any) -> dict[str, Any]:
        sex = draw(st.sampled_from(["F", "M"]))
        born = draw(st.dates(min_value=date(1920, 1, 1), max_value=today - timedelta(days=1)))
        departement = draw(st.integers(min_value=1, max_value=95).filter(lambda d: d != 20))
        nir = _nir(sex, born, departement, draw(st.integers(1, 990)), draw(st.integers(1, 999)))
        ago = draw(st.integers(min_value=10, max_value=3 * 24 * 60))
        sampled = (datetime.now(UTC) - timedelta(minutes=ago)).replace(microsecond=0)
        patient: dict[str, Any] = {
            "nir": nir,
            "last_name": draw(letters),
            "first_name": draw(letters),
            "birth_date": born.isoformat(),
            "sex": sex,
        }
        if draw(st.booleans()):
            patient["email"] = f"{draw(letters).lower()}@example.org"
        if draw(st.booleans()):
            patient["phone"] = f"+336{draw(st.integers(10_000_000, 99_999_999))}"
        if draw(st.booleans()):
            patient["address"] = {"line": "1 rue de la Paix", "postal_code": "75002", "city": "Paris"}
        result = draw(st.sampled_from([None, "positive", "negative", "invalid"]))
        return {
            "patient": patient,
            "test": {
                "kind": "antigen",
                "device_id": draw(st.sampled_from(ACTIVE_DEVICES)),
                "sampled_at": sampled.astimezone().isoformat(),
                "result": result,
            },
        }

    return build()


def _headers(response: Any) -> dict[str, str]:
    """The response's headers by lower-case name, one value each (a repeated one by its first)."""
    return {
        name.lower(): str(value[0] if isinstance(value, list) and value else value)
        for name, value in response.headers.items()
    }


def _check_security_headers(headers: dict[str, str]) -> None:
    for name in _SECURITY_HEADERS:
        if not headers.get(name):
            raise AssertionError(f"the response lacks the {name} header")
    if "no-store" not in headers.get("cache-control", ""):
        raise AssertionError("health data may be cached: Cache-Control is not no-store")


def _check_problem(response: Any, case: Any, headers: dict[str, str]) -> None:
    if headers.get("content-type", "").split(";", 1)[0].strip() != "application/problem+json":
        raise AssertionError(f"error {response.status_code} is not application/problem+json")
    problem = response.json()
    if not isinstance(problem, dict) or problem.get("status") != response.status_code:
        raise AssertionError("the problem's status differs from the response's")
    if echoed_values(case.body, response.text):
        raise AssertionError("an error echoes a submitted personal value")


def check_response(response: Any, case: Any) -> None:
    """Our own checks of one response (the module docstring lists them); AssertionError if one fails."""
    headers = _headers(response)
    if headers.get("access-control-allow-origin"):
        raise AssertionError("CORS must be closed by default")
    if response.request.method == "OPTIONS":
        return  # a preflight: chalice local (API Gateway when deployed) answers it, not the app
    _check_security_headers(headers)
    if response.status_code >= 400:
        _check_problem(response, case, headers)
    if response.status_code == 503 and not headers.get("retry-after"):
        raise AssertionError("a 503 without Retry-After")


def install_hooks() -> None:
    import schemathesis

    @schemathesis.hook("before_generate_body").apply_to(method="POST", path="/v1/tests")  # type: ignore[attr-defined,untyped-decorator]
    def valid_patients_half_the_time(context: Any, strategy: Any) -> Any:
        from hypothesis import strategies as st

        return st.one_of(strategy, valid_submissions())

    # schemathesis calls a check with (ctx, response, case) and reports it by this function's name
    @schemathesis.check
    def problem_json_and_headers(ctx: Any, response: Any, case: Any) -> bool | None:
        check_response(response, case)
        return None


if os.environ.get("SCHEMATHESIS_HOOKS") == HOOKS_MODULE:
    install_hooks()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.fuzz", description=__doc__.split("\n")[0])
    parser.add_argument("--stack", default=".local/stack.json", help="the stack file (default: %(default)s)")
    parser.add_argument("--max-examples", type=int, default=500, help="per operation (default: %(default)s)")
    parser.add_argument("--max-time", type=int, default=None, help="seconds, for the whole run")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--report-dir", default=None, help="where reports go (default: a temp dir)")
    args = parser.parse_args(argv)
    from devtools.load import running_stack

    workdir = Path(args.report_dir or tempfile.mkdtemp(prefix="depistage-fuzz-"))
    with running_stack(Path(args.stack)) as stack:
        result = run(stack, workdir, max_examples=args.max_examples, seed=args.seed, max_time=args.max_time)
    print(result.output)
    print(f"fuzz: {result.examples} examples, {result.failures} failures; reports in {workdir}")
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
