"""Where the service is, for every operator command: the one place that finds it.

In this order:
1. `--stack FILE`: a local stack's `stack.json` (what `make run` writes);
2. `--stage NAME [--region R]`: a deployed stage, from its CloudFormation stack's outputs
   (`depistage-NAME`, as `make deploy` names it; the outputs are `infra.template.OPERATOR_OUTPUTS`),
   with the operator's own AWS credentials;
3. the environment, when it names the service's keys (as in a Lambda, or in the local stack's own
   processes, which get the app's settings in their environment);
4. `.local/stack.json` of this checkout, when `make run` is running.
Anything else is a `TargetError`: one line saying what is missing and how to give it.

A local stack's commands run with fake AWS credentials against its moto endpoint only: a
developer's real credentials never meet a local stack, nor the reverse.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.config import DEFAULT_REGION, ConfigurationError, Settings, env_name, load_settings

PROJECT_DIR = Path(__file__).resolve().parents[1]
DEFAULT_STACK_FILE = PROJECT_DIR / ".local" / "stack.json"
# The local export writes the summary of its last run here, in the stack's state dir (the Lambda
# never does: deployed, the last run is read from its CloudWatch metrics).
LAST_EXPORT_RUN_FILE = "export-last-run.json"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret
    "AWS_SESSION_TOKEN": "testing",
}
# Settings that tell a deployment apart: their presence in the environment means "this is it".
IDENTIFYING_SETTINGS = tuple(env_name(name) for name in ("data_key_id", "blind_index_key_id", "audit_key_id"))
# What chalicelib.bootstrap's container needs to be built (the envelope cipher, the blind index,
# the audit journal's checkpoints).
CONTAINER_SETTINGS = IDENTIFYING_SETTINGS
HOW_TO_GIVE = "start the local stack (make run), or pass --stack FILE or --stage NAME [--region R]"


class TargetError(Exception):
    """No service found, or a setting a command needs is missing: the message says how to fix it."""


def stack_name(stage: str) -> str:
    return f"depistage-{stage}"


def last_export_run_file(state_dir: Path) -> Path:
    return state_dir / LAST_EXPORT_RUN_FILE


@dataclass(frozen=True)
class Target:
    """One service: its settings (as environment variables, the way chalicelib.config reads them)."""

    source: str  # for people: which stack this is and where it was found
    env: dict[str, str]
    kind: str  # "local" | "deployed" | "environment"
    state_dir: Path | None = None
    # Deployed only: CloudFormation outputs beyond the settings (function names, queue URL).
    outputs: dict[str, str] = field(default_factory=dict)

    def settings(self) -> Settings:
        try:
            return load_settings(self.env)
        except ConfigurationError as exc:
            raise TargetError(f"{self.source}: {exc}") from None

    def require(self, names: Iterable[str]) -> None:
        missing = [name for name in names if not self.env.get(name)]
        if missing:
            raise TargetError(f"{', '.join(missing)} not set ({self.source}): {HOW_TO_GIVE}, or set it")

    @property
    def last_export_run(self) -> Path | None:
        return last_export_run_file(self.state_dir) if self.state_dir else None

    def apply(self) -> None:
        """Make this process use this target: the app's settings, the right credentials."""
        from chalicelib import bootstrap
        from chalicelib.config import get_settings

        stale = {*self.env, *IDENTIFYING_SETTINGS, "AWS_ENDPOINT_URL"}
        for name in [k for k in os.environ if k in stale]:
            del os.environ[name]
        if self.kind == "local":
            os.environ.pop("AWS_PROFILE", None)
            os.environ.update(FAKE_CREDENTIALS)
        os.environ.update(self.env)
        get_settings.cache_clear()
        bootstrap.reset()


def from_stack_file(path: Path) -> Target:
    if not path.is_file():
        raise TargetError(f"{path} not found: is the local stack running (make run)? Or pass --stack FILE")
    try:
        info: dict[str, Any] = json.loads(path.read_text())
        env = {str(k): str(v) for k, v in info["env"].items()}
    except (ValueError, KeyError, AttributeError):
        raise TargetError(f"{path} is not a stack file written by make run (no 'env')") from None
    env.setdefault("AWS_ENDPOINT_URL", str(info.get("aws_endpoint_url", "")))
    region = str(info.get("region") or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION)
    env.update({"AWS_REGION": region, "AWS_DEFAULT_REGION": region})
    for name in (env_name("sidep_url"),):
        if info.get(name.lower()) and not env.get(name):
            env[name] = str(info[name.lower()])
    state_dir = Path(str(info.get("state_dir") or path.parent))
    return Target(f"local stack {path}", env, "local", state_dir=state_dir)


def from_stage(stage: str, region: str | None, cloudformation: Any = None) -> Target:
    """A deployed stage, from its CloudFormation outputs (needs cloudformation:DescribeStacks)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from infra.template import OPERATOR_OUTPUTS

    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    name = stack_name(stage)
    where = f"stage {stage} (CloudFormation stack {name} in {region})"
    client = cloudformation or boto3.Session(region_name=region).client("cloudformation")
    try:
        stacks = client.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if "does not exist" in str(exc):
            raise TargetError(f"{where}: no such stack; deploy it (make deploy) or pass --region") from None
        raise TargetError(f"{where}: CloudFormation refused ({code}): check your AWS credentials") from None
    except BotoCoreError as exc:
        raise TargetError(f"{where}: {type(exc).__name__}: set AWS_PROFILE or AWS credentials") from None
    outputs = {o["OutputKey"]: str(o["OutputValue"]) for o in stacks[0].get("Outputs", [])}
    env = {var: outputs[key] for key, var in OPERATOR_OUTPUTS.items() if key in outputs}
    env.update({"AWS_REGION": region, "AWS_DEFAULT_REGION": region, "STAGE": stage})
    return Target(where, env, "deployed", outputs=outputs)


def find(
    stack: str | None = None,
    stage: str | None = None,
    region: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Target:
    """The service the operator means (see the module's docstring for the order)."""
    environ = os.environ if environ is None else environ
    default_stack_file = DEFAULT_STACK_FILE  # read now: tests point it away from a developer's stack
    if stack and stage:
        raise TargetError("--stack and --stage name two different services: give one")
    if stack:
        return from_stack_file(Path(stack))
    if stage:
        return from_stage(stage, region)
    if any(environ.get(name) for name in IDENTIFYING_SETTINGS):
        return Target("the environment", dict(environ), "environment")
    if default_stack_file.is_file():
        return from_stack_file(default_stack_file)
    raise TargetError(f"no service found (no {default_stack_file}, no AUDIT_KEY_ID...): {HOW_TO_GIVE}")


def scheduled_event(region: str, detail: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The event a schedule sends, for invoking a scheduled function by hand (Chalice reads these)."""
    import uuid
    from datetime import UTC, datetime

    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "depistage.operator",
        "account": "",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": dict(detail or {}),
    }


def invoke_deployed(target: Target, output: str, lambda_client: Any = None, **detail: str) -> dict[str, Any]:
    """Run a deployed scheduled function now, with its own role (the operator's role may invoke it
    but holds none of its rights: no decryption, no erasure), and return what it returned."""
    import boto3

    name = target.outputs.get(output)
    if not name:
        raise TargetError(f"{target.source}: no {output} output: redeploy with this version's template")
    region = target.env["AWS_REGION"]
    client = lambda_client or boto3.Session(region_name=region).client("lambda")
    answer = client.invoke(FunctionName=name, Payload=json.dumps(scheduled_event(region, detail)).encode())
    body = json.loads(answer["Payload"].read() or b"null")
    if answer.get("FunctionError"):
        kind = body.get("errorType", "error") if isinstance(body, dict) else "error"
        raise RuntimeError(f"{name} failed ({kind}): read its log group /aws/lambda/{name}")
    return body if isinstance(body, dict) else {"result": body}
