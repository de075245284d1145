"""`make rehearse`: the packaged artifact runs as deployed, against a local stack.

    python -m infra.rehearse [--package build/rehearse/package] [--keep]

1. build the package (`infra.build`, as `make package`) unless --package names one;
2. unzip deployment.zip into a clean directory;
3. start a local stack (moto, the fake SI-DEP; `testkit/harness.py`, free ports, its own
   export loop and trigger held back so that the rehearsal's export is the one that sends);
4. for every function of the generated template (sam.json), in a fresh interpreter of a venv with
   no site packages whose only path is the unzipped directory: the function's environment from
   the template, its references (Ref, GetAtt) resolved to the local stack's resources by variable
   name (the same names `devtools.provision` gives them), the certificate from moto's Secrets
   Manager; import the handler the template names and invoke it with an event of each of its
   sources: an API Gateway proxy event per route family for the API, the schedule's event for a
   schedule, the messages on its queue for a queue consumer (the sweeper's fan-out: the
   schedules run first, their consumers after), an empty batch for a stream or an empty queue,
   and for an EventBridge rule the first call it matches, of a user who is no member.
   Nothing is listed by hand: a handler added to the app is in the template, so it is rehearsed.
   The fan-out queue is the one resource `make run` has no use for (its sweeper runs the shards in
   process): the rehearsal creates it (devtools.provision.create_export_fanout_queue).

What differs from Lambda, and only this: AWS_ENDPOINT_URL points every client at moto, JWKS_URL at
moto's JWKS (tokens still name the real Cognito issuer), credentials are fake. Exit 0 when every
invocation did what its event asks (no 5xx, no exception; the export acknowledged the record the
API created); the summary (JSON) names each function, its handler and each outcome.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra.bytecode import extract

ROOT = Path(__file__).resolve().parents[1]
REGION = "eu-west-3"
# Importable in the rehearsal's interpreter means shipped by mistake (or leaked from the dev venv).
DEV_ONLY = ("pytest", "moto", "hl7apy", "pydantic", "chalice.cli", "devtools", "tests", "infra", "mypy")
INVOKE_TIMEOUT_SECONDS = 300
# The one process per function, as Lambda runs it: import the handler, invoke it once per event.
_CHILD = r"""
import importlib, json, sys, time, traceback, uuid
spec = json.loads(sys.stdin.read())
leaked = []
for name in spec["dev_only"]:
    try:
        importlib.import_module(name)
    except ImportError:
        continue
    leaked.append(name)
outcome = {"leaked": leaked, "sys_path": sys.path, "results": []}


class Context:
    def __init__(self, name, deadline):
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{spec['region']}:123456789012:function:{name}"
        self.memory_limit_in_mb = 1024
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "rehearsal"
        self._deadline = deadline

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


started = time.monotonic()
module_name, _, attribute = spec["handler"].rpartition(".")
handler = getattr(importlib.import_module(module_name), attribute)
outcome["import_seconds"] = time.monotonic() - started
for event in spec["events"]:
    context = Context(spec["function_name"], time.monotonic() + spec["timeout"])
    try:
        outcome["results"].append({"ok": True, "value": handler(event, context)})
    except Exception as exc:
        outcome["results"].append({"ok": False, "error": type(exc).__name__, "trace": traceback.format_exc()})
with open(spec["out"], "w") as out:
    json.dump(outcome, out, default=str)
"""


class RehearsalError(RuntimeError):
    pass


@dataclass
class Invocation:
    label: str
    event: dict[str, Any]
    expect: str  # "2xx", "not-5xx", "ok"
    outcome: dict[str, Any] = field(default_factory=dict)
    passed: bool = False


# --- the template ---------------------------------------------------------------------------------


def functions_of(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v.get("Type") == "AWS::Serverless::Function"}


def api_functions(template: dict[str, Any]) -> set[str]:
    """The functions the REST API's proxy integrations invoke."""
    body = json.dumps(
        template["Resources"].get("RestAPI", {}).get("Properties", {}).get("DefinitionBody", {})
    )
    return {name for name in functions_of(template) if "${" + name + ".Arn}" in body}


def api_routes(template: dict[str, Any]) -> list[tuple[str, str]]:
    paths = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    return sorted((path, method.upper()) for path, methods in paths.items() for method in methods)


def api_stage(template: dict[str, Any]) -> str:
    return str(template["Resources"]["RestAPI"]["Properties"].get("StageName", "v1"))


def resolve_environment(
    function: dict[str, Any], local: dict[str, str], template: dict[str, Any]
) -> dict[str, str]:
    """The function's variables with every CloudFormation reference replaced by the local stack's
    value for the same variable; a reference the local stack does not provide is an error."""
    variables: dict[str, Any] = {}
    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    variables.update(globals_env)
    variables.update(function["Properties"].get("Environment", {}).get("Variables", {}))
    from chalicelib.config import field_of_env, load_settings

    settings = load_settings({**local, "AWS_DEFAULT_REGION": REGION})  # the local stack's own view
    resolved: dict[str, str] = {}
    missing = []
    for name, value in variables.items():
        setting = field_of_env(name)
        known = getattr(settings, setting) if setting else None
        if isinstance(value, str):
            resolved[name] = value
        elif name in local:
            resolved[name] = local[name]
        elif isinstance(known, str) and known:
            resolved[name] = known  # e.g. a table: the local stack's name for it
        else:
            missing.append(f"{name}={json.dumps(value)}")
    if missing:
        raise RehearsalError(
            "the local stack provides no resource for: "
            + ", ".join(missing)
            + " (provision it in devtools/provision.py)"
        )
    return resolved


# --- events -------------------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def proxy_event(
    method: str,
    resource: str,
    stage: str,
    body: Any = None,
    path_parameters: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """API Gateway's proxy event for one request (`headers`: the caller's, e.g. `bearer(token)`)."""
    path = resource
    for key, value in (path_parameters or {}).items():
        path = path.replace("{" + key + "}", value)
    all_headers = {
        "Host": "rehearsal.execute-api.eu-west-3.amazonaws.com",
        "Content-Type": "application/json",
        "User-Agent": "depistage-rehearsal",
        "X-Forwarded-For": "127.0.0.1",
        **(headers or {}),
    }
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "accountId": "123456789012",
            "apiId": "rehearsal",
            "protocol": "HTTP/1.1",
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "depistage-rehearsal"},
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def source_event(kind: str, properties: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """The event Lambda delivers for one event source of the template."""
    if kind == "Schedule":
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:123456789012:rule/{logical_id}"],
            "detail": {},
        }
    if kind == "CloudWatchEvent":
        # the first call its rule matches, as CloudTrail records it, of a user who is no member
        pattern = properties.get("Pattern") or {}
        detail = pattern.get("detail") or {}
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": (pattern.get("detail-type") or ["AWS API Call via CloudTrail"])[0],
            "source": (pattern.get("source") or ["aws.events"])[0],
            "account": "123456789012",
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [],
            "detail": {
                "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "eventSource": (detail.get("eventSource") or [""])[0],
                "eventName": (detail.get("eventName") or [""])[0],
                "requestParameters": {"username": "rehearsal-nobody"},
                "eventID": str(uuid.uuid4()),
            },
        }
    if kind in {"SQS", "DynamoDB", "Kinesis", "S3", "SNS"}:
        return {"Records": []}  # an empty batch: the handler, its imports and its environment load
    raise RehearsalError(f"{logical_id}: no rehearsal event for an event source of type {kind}: add one here")


def _consumes_a_queue(function: dict[str, Any]) -> bool:
    return any(e["Type"] == "SQS" for e in (function["Properties"].get("Events") or {}).values())


def queue_events(sqs: Any, queues: dict[str, str], properties: dict[str, Any]) -> list[dict[str, Any]]:
    """What the mapping would deliver from its queue now, in batches of its BatchSize (consumed:
    the rehearsal has no retry to keep them for)."""
    queue = properties.get("Queue")
    logical = queue.get("Fn::GetAtt", [None])[0] if isinstance(queue, dict) else None
    if logical not in queues:
        return []
    url = queues[logical]
    arn = f"arn:aws:sqs:{REGION}:123456789012:{url.rsplit('/', 1)[-1]}"
    records: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            records.append(
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": {"ApproximateReceiveCount": "1"},
                    "messageAttributes": {},
                    "md5OfBody": message["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": REGION,
                }
            )
    size = int(properties.get("BatchSize", 10))
    return [{"Records": records[i : i + size]} for i in range(0, len(records), size)]


def family(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    return "/".join(parts[:2])


def api_invocations(template: dict[str, Any], tokens: dict[str, str], marker: str) -> list[Invocation]:
    """Health and the contract, a create then a read of the new record, then one route of every
    other family with every user (each must answer, none 5xx)."""
    stage = api_stage(template)
    body = _submission(marker)
    invocations = [
        Invocation("GET /v1/health", proxy_event("GET", "/v1/health", stage), "2xx"),
        Invocation("GET /v1/openapi.json", proxy_event("GET", "/v1/openapi.json", stage), "2xx"),
        Invocation(
            "POST /v1/tests (pharmacist-a)",
            proxy_event(
                "POST",
                "/v1/tests",
                stage,
                body,
                headers={"Idempotency-Key": str(uuid.uuid4()), **bearer(tokens["pharmacist-a"])},
            ),
            "2xx",
        ),
    ]
    covered = {family("/v1/health"), family("/v1/openapi.json"), family("/v1/tests")}
    for path, method in api_routes(template):
        if family(path) in covered:
            continue
        covered.add(family(path))
        params = {name.strip("{}"): "rehearsal" for name in path.split("/") if name.startswith("{")}
        for user, token in tokens.items():
            payload: dict[str, Any] | None = {} if method in {"POST", "PUT"} else None
            event = proxy_event(method, path, stage, payload, params or None, bearer(token))
            invocations.append(Invocation(f"{method} {path} ({user})", event, "not-5xx"))
    return invocations


def _submission(marker: str) -> dict[str, Any]:
    from devtools.load import submission

    body = submission(random.Random(marker), "1232", datetime.now(UTC))  # noqa: S311 - test data
    body["test"]["result"] = "negative"  # a result: the export has something to send
    return body


# --- running --------------------------------------------------------------------------------------


def fresh_interpreter(directory: Path) -> Path:
    """A venv with no site packages and no pip: the standard library and nothing else."""
    subprocess.run(  # noqa: S603 - the running interpreter's venv module
        [getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", str(directory)],
        check=True,
    )
    return directory / "bin" / "python"


@dataclass(frozen=True)
class Sandbox:
    """Where a handler runs: a fresh interpreter, the unzipped package as its task root, and the
    directory that receives each run's outcome and log."""

    python: Path
    task_root: Path
    work: Path


def invoke(
    sandbox: Sandbox, handler: str, name: str, env: dict[str, str], events: list[dict[str, Any]]
) -> dict[str, Any]:
    python, task_root, work = sandbox.python, sandbox.task_root, sandbox.work
    out = work / f"{name}-{uuid.uuid4().hex[:6]}.json"
    spec = {
        "handler": handler,
        "function_name": name,
        "events": events,
        "dev_only": list(DEV_ONLY),
        "region": REGION,
        "timeout": INVOKE_TIMEOUT_SECONDS - 30,
        "out": str(out),
    }
    log = work / f"{name}.log"
    with log.open("ab") as sink:
        completed = subprocess.run(  # noqa: S603 - a fresh interpreter running _CHILD
            [str(python), "-B", "-c", _CHILD],
            cwd=task_root,
            env=env,
            input=json.dumps(spec).encode(),
            stdout=sink,
            stderr=sink,
            timeout=INVOKE_TIMEOUT_SECONDS,
            check=False,
        )
    if completed.returncode != 0 or not out.exists():
        tail = log.read_text(errors="replace")[-3000:]
        raise RehearsalError(f"{name}: the interpreter exited {completed.returncode}:\n{tail}")
    outcome: dict[str, Any] = json.loads(out.read_text())
    return outcome


def _status(value: Any) -> int:
    return int(value.get("statusCode", 0)) if isinstance(value, dict) else 0


def judge(invocation: Invocation) -> bool:
    result = invocation.outcome
    if not result.get("ok"):
        return False
    status = _status(result.get("value"))
    if invocation.expect == "2xx":
        return 200 <= status < 300
    if invocation.expect == "not-5xx":
        return 200 <= status < 500
    return True


def lambda_environment(
    resolved: dict[str, str], local: dict[str, str], name: str, tmp: Path, task: Path
) -> dict[str, str]:
    """What Lambda adds to the template's variables, then the local-only overrides."""
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(task),
        "PYTHONPATH": str(task),
        "TMPDIR": str(tmp),
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret
        "AWS_SESSION_TOKEN": "testing",
        "NO_PROXY": "127.0.0.1,localhost",
        **resolved,
        # local-only: AWS is moto, and moto serves the pool's JWKS at its own address
        "AWS_ENDPOINT_URL": local["AWS_ENDPOINT_URL"],
    }
    if "JWKS_URL" in local:
        env["JWKS_URL"] = local["JWKS_URL"]
    return env


def rehearse(package: Path, work: Path) -> dict[str, Any]:
    import boto3

    from devtools.login import login_stack_user
    from devtools.provision import create_export_fanout_queue
    from testkit import harness

    template = json.loads((package / "sam.json").read_text())
    task = work / "task"
    task.mkdir(parents=True)
    extract(package / "deployment.zip", task)
    sandbox = Sandbox(fresh_interpreter(work / "venv"), task, work)
    stack = harness.launch(work / "stack", "--export-every", "86400", "--no-export-trigger")
    summary: dict[str, Any] = {"package": str(package), "functions": {}, "handlers": 0, "invocations": 0}
    try:
        info = harness.wait_ready(stack)
        local = dict(info["env"])
        tokens = {
            user: login_stack_user(info, user)["AccessToken"]
            for user in ("pharmacist-a", "admin-a", "operator")
        }
        marker = f"rehearsal-{uuid.uuid4().hex[:8]}"
        sqs = boto3.client(
            "sqs",
            region_name=REGION,
            endpoint_url=local["AWS_ENDPOINT_URL"],
            aws_access_key_id="testing",  # moto's
            aws_secret_access_key="testing",  # pragma: allowlist secret
        )
        local.update(create_export_fanout_queue(sqs))
        queues = {"ExportFanoutQueue": local["EXPORT_FANOUT_QUEUE_URL"]}
        functions = functions_of(template)
        api = api_functions(template)
        # the API first (it creates the record the export then sends), then the others in name
        # order, queue consumers last (they get what the others sent)
        order = sorted(
            functions, key=lambda name: (name not in api, _consumes_a_queue(functions[name]), name)
        )
        created: str | None = None
        for name in order:
            props = functions[name]["Properties"]
            handler = props["Handler"]
            tmp = work / "tmp" / name
            tmp.mkdir(parents=True)
            env = lambda_environment(
                resolve_environment(functions[name], local, template), local, name, tmp, task
            )
            if name in api:
                invocations = api_invocations(template, tokens, marker)
            else:
                events = props.get("Events") or {}
                invocations = [
                    Invocation(f"{source['Type']} {event_id}", event, "ok")
                    for event_id, source in sorted(events.items())
                    for event in (
                        queue_events(sqs, queues, source.get("Properties", {}))
                        if source["Type"] == "SQS"
                        else []
                    )
                    or [source_event(source["Type"], source.get("Properties", {}), name)]
                ] or [Invocation("direct", {}, "ok")]
            outcome = invoke(sandbox, handler, name, env, [i.event for i in invocations])
            if outcome["leaked"]:
                raise RehearsalError(f"{name}: dev-only modules importable: {outcome['leaked']}")
            report = []
            for invocation, result in zip(invocations, outcome["results"], strict=True):
                invocation.outcome = result
                invocation.passed = judge(invocation)
                value = result.get("value")
                entry: dict[str, Any] = {"event": invocation.label, "passed": invocation.passed}
                if name in api:
                    entry["status"] = _status(value)
                    if invocation.label.startswith("POST /v1/tests") and invocation.passed:
                        created = json.loads(value["body"]).get("id")
                elif isinstance(value, dict):
                    entry["result"] = {k: v for k, v in value.items() if isinstance(v, int | float | bool)}
                if not result.get("ok"):
                    entry["error"] = result.get("error")
                    entry["trace"] = result.get("trace", "")[-1500:]
                report.append(entry)
            summary["functions"][name] = {
                "handler": handler,
                "import_seconds": round(outcome["import_seconds"], 2),
                "invocations": report,
                "tmp_files": _private_files(tmp),
            }
            summary["handlers"] += 1
            summary["invocations"] += len(report)
        summary["created_record"] = created
        summary["ledger"] = _ledger(info)
        summary["failures"] = _failures(summary, api)
    finally:
        harness.stop(stack)
    return summary


def _private_files(tmp: Path) -> dict[str, str]:
    return {
        str(p.relative_to(tmp)): oct(stat.S_IMODE(p.stat().st_mode))
        for p in sorted(tmp.rglob("*"))
        if p.is_file()
    }


def _ledger(info: dict[str, Any]) -> int:
    path = Path(info["sidep_ledger"])
    return len(json.loads(path.read_text())) if path.exists() else 0


def _failures(summary: dict[str, Any], api: set[str]) -> list[str]:
    failures = [
        f"{name}: {i['event']}" + (f" ({i.get('status')})" if "status" in i else f" {i.get('error', '')}")
        for name, f in summary["functions"].items()
        for i in f["invocations"]
        if not i["passed"]
    ]
    if not summary["created_record"]:
        failures.append("the API created no record")
    # the exporters: the sweeper's fan-out consumers (or the sweeper itself, without a fan-out)
    senders = [
        f
        for f in summary["functions"].values()
        if any(i.get("result", {}).get("acknowledged", 0) for i in f["invocations"])
    ]
    if not senders or summary["ledger"] < 1:
        failures.append("the export acknowledged nothing: the record did not reach SI-DEP")
    for export in senders:
        files = export["tmp_files"]
        if len([f for f in files if f.endswith(".pem")]) != 3 or set(files.values()) != {"0o600"}:
            failures.append(f"the export's certificate files are not three 0600 files: {files}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.rehearse", description=__doc__.splitlines()[0])
    parser.add_argument("--package", type=Path, help="a built package directory (default: build one)")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "rehearse")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, unzipped task)")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    package = args.package
    if package is None:
        from infra.build import build

        print("building the package ...", file=sys.stderr, flush=True)
        package = out / "package"
        build(ROOT, package, region=REGION)
    work = Path(tempfile.mkdtemp(prefix="rehearsal-", dir=out))
    started = time.monotonic()
    try:
        summary = rehearse(package.resolve(), work)
    except RehearsalError as exc:
        print(f"rehearsal failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(work / "task", ignore_errors=True)
            shutil.rmtree(work / "venv", ignore_errors=True)
    summary["seconds"] = round(time.monotonic() - started, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "functions"}, indent=2))
    for name, function in summary["functions"].items():
        marks = " ".join(
            ("ok" if i["passed"] else "FAIL") + f":{i['event']}" for i in function["invocations"]
        )
        print(f"{name} ({function['handler']}): {marks}")
    return 0 if not summary["failures"] else 1


if __name__ == "__main__":
    sys.exit(main())
