"""Package the app for an HDS region: `python -m infra.build --region eu-west-3 --out build/package`.

Offline but for the package registry (chalice fetches the Lambda wheels of requirements.txt):
no AWS credentials, no AWS call. Steps:
1. refuse a region outside HDS_REGIONS;
2. list the app's Lambda functions (chalice's own application graph) and generate the merge
   template for them (infra.template);
3. install the runtime lock (requirements.txt: pins and hashes) as Lambda wheels into the staged
   project's vendor/, and `chalice package --merge-template` it with no requirements of its own
   (chalice would resolve and download again, unhashed);
4. check that every function runs with its own role, precompile the zip's bytecode.

Writes <out>/sam.json (the deployable template), <out>/deployment.zip and <out>/merge-template.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from infra.bytecode import precompile_zip
from infra.lock import LOCK_FILE, install_lock
from infra.template import (
    DEFAULT_STAGE,
    PLACEHOLDER_ROLE,
    Function,
    RegionNotAllowedError,
    check_region,
    export_record_attribute_check,
    merge_template,
)

PROJECT_FILES = ("app.py",)
# Only chalicelib: vendor/ is the lock's output alone, so a checkout's own (untracked) vendor/ never ships.
PROJECT_DIRS = ("chalicelib",)
# botocore ships the model of every AWS service (18.6 MiB, 15 MiB of the zip): the Lambda keeps the
# models of the services its code calls (boto3, PynamoDB, the encryption SDK, Powertools) and of
# those the current issues add. tests/infra/test_package.py fails on a service the code names that
# is not here; the rehearsal (infra/rehearse.py) calls each one that the handlers use.
BOTOCORE_SERVICES = frozenset(
    {
        "cloudwatch",
        "cognito-idp",
        "dynamodb",
        "dynamodbstreams",
        "kms",
        "logs",
        "s3",
        "secretsmanager",
        "sns",
        "sqs",
        "ssm",
        "sts",
    }
)


class BuildError(RuntimeError):
    pass


def discover_functions(project_dir: Path, stage: str) -> list[Function]:
    """The Lambda functions `chalice package` will emit, with their logical ids.

    Chalice imports the project's `app` module to list them: done in a fresh interpreter so that
    an `app` (or `chalicelib`) already imported in this process is never mistaken for the project's.
    """
    code = (
        "import json, sys; from pathlib import Path; from infra.build import _discover; "
        "print(json.dumps([[f.name, f.logical_id] for f in _discover(Path(sys.argv[1]), sys.argv[2])]))"
    )
    infra_root = str(Path(__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [infra_root, os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(  # noqa: S603 - our interpreter, our code
        [sys.executable, "-c", code, str(project_dir), stage],
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BuildError(f"cannot load the Chalice app in {project_dir}:\n{result.stderr}")
    return [Function(name, logical) for name, logical in json.loads(result.stdout.strip().splitlines()[-1])]


def _discover(project_dir: Path, stage: str) -> list[Function]:
    from chalice.cli.factory import CLIFactory
    from chalice.deploy import models
    from chalice.deploy.appgraph import ApplicationGraphBuilder, DependencyBuilder
    from chalice.utils import to_cfn_resource_name

    config = CLIFactory(str(project_dir)).create_config_obj(chalice_stage_name=stage)
    application = ApplicationGraphBuilder().build(config, stage)
    resources = DependencyBuilder().build_dependencies(application)
    has_api = any(isinstance(r, models.RestAPI) for r in resources)
    functions = []
    for resource in resources:
        if isinstance(resource, models.LambdaFunction):
            name = resource.resource_name
            # chalice's SAM generator renames the REST API's handler to APIHandler.
            logical = "APIHandler" if name == "api_handler" and has_api else to_cfn_resource_name(name)
            functions.append(Function(name=name, logical_id=logical))
    return sorted(functions, key=lambda f: f.name)


def api_stage_name(project_dir: Path, stage: str) -> str:
    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    name = config.get("stages", {}).get(stage, {}).get("api_gateway_stage") or config.get(
        "api_gateway_stage", "api"
    )
    return str(name)


def stage_project(project_dir: Path, dest: Path) -> None:
    """Copy what chalice packages into dest, leaving host bytecode behind; the lock goes to vendor/."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "requirements.txt").write_text("")  # chalice resolves nothing: vendor/ is the lock
    for name in PROJECT_FILES:
        if (project_dir / name).exists():
            shutil.copy2(project_dir / name, dest / name)
    for name in PROJECT_DIRS:
        if (project_dir / name).is_dir():
            shutil.copytree(
                project_dir / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
    lock = project_dir / LOCK_FILE
    if lock.is_file() and lock.read_text().strip():
        install_lock(lock, dest / "vendor")
        prune_botocore_models(dest / "vendor", BOTOCORE_SERVICES)
    chalice_dir = dest / ".chalice"
    chalice_dir.mkdir()
    for path in (project_dir / ".chalice").glob("*.json"):
        shutil.copy2(path, chalice_dir / path.name)


def prune_botocore_models(vendor: Path, services: frozenset[str]) -> None:
    """Remove the models of the services not in `services` (the shared files at the top stay)."""
    data = vendor / "botocore" / "data"
    if not data.is_dir():
        return
    present = {p.name for p in data.iterdir() if p.is_dir()}
    unknown = services - present
    if unknown:
        raise BuildError(f"botocore has no model for {sorted(unknown)}: fix infra.build.BOTOCORE_SERVICES")
    for path in data.iterdir():
        if path.is_dir() and path.name not in services:
            shutil.rmtree(path)


def chalice_command() -> list[str]:
    script = Path(sys.executable).with_name("chalice")
    if script.exists():
        return [str(script)]
    found = shutil.which("chalice")
    if not found:
        raise BuildError("chalice is not installed (pip install -r requirements-dev.txt)")
    return [found]


def verify(template: dict[str, Any], functions: list[Function]) -> None:
    """Every function runs with its own generated role; nothing kept chalice's placeholder."""
    resources = template["Resources"]
    emitted = {k for k, v in resources.items() if v.get("Type") == "AWS::Serverless::Function"}
    expected = {fn.logical_id for fn in functions}
    if emitted != expected:
        raise BuildError(f"chalice emitted functions {sorted(emitted)}, expected {sorted(expected)}")
    for fn in functions:
        role = resources[fn.logical_id]["Properties"].get("Role")
        if role != {"Fn::GetAtt": [fn.role_id, "Arn"]}:
            raise BuildError(f"{fn.logical_id} does not run with its own role {fn.role_id}: {role!r}")
    if PLACEHOLDER_ROLE in json.dumps(template):
        raise BuildError("the placeholder role ARN of .chalice/config.json reached the template")


def build(
    project_dir: Path,
    out: Path,
    region: str,
    stage: str = DEFAULT_STAGE,
    precompile: bool = True,
) -> dict[str, Any]:
    check_region(region)
    export_record_attribute_check()
    project_dir = project_dir.resolve()
    out = out.resolve()
    functions = discover_functions(project_dir, stage)
    template = merge_template(functions, region, stage, api_stage_name(project_dir, stage))
    if out.exists():
        shutil.rmtree(out)
    with tempfile.TemporaryDirectory(prefix="depistage-package-") as tmp:
        staged = Path(tmp) / "project"
        stage_project(project_dir, staged)
        merge_path = Path(tmp) / "merge-template.json"
        merge_path.write_text(json.dumps(template, indent=2, sort_keys=True))
        env = {**os.environ, "AWS_DEFAULT_REGION": region, "AWS_REGION": region}
        result = subprocess.run(  # noqa: S603 - fixed argv, our own tool
            [
                *chalice_command(),
                "--project-dir",
                str(staged),
                "package",
                "--stage",
                stage,
                "--merge-template",
                str(merge_path),
                str(out),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BuildError(f"chalice package failed:\n{result.stdout}\n{result.stderr}")
        shutil.copy2(merge_path, out / "merge-template.json")
    sam_path = out / "sam.json"
    packaged = json.loads(sam_path.read_text())
    verify(packaged, functions)
    sam_path.write_text(json.dumps(packaged, indent=2, sort_keys=True) + "\n")
    runtimes = {
        r["Properties"]["Runtime"]
        for r in packaged["Resources"].values()
        if r.get("Type") == "AWS::Serverless::Function"
    }
    counts: dict[str, int] = {}
    if precompile:
        if len(runtimes) != 1:
            raise BuildError(f"one runtime expected, got {sorted(runtimes)}")
        counts = precompile_zip(out / "deployment.zip", runtimes.pop())
    return {
        "region": region,
        "stage": stage,
        "functions": [fn.name for fn in functions],
        "template": str(sam_path),
        "zip": str(out / "deployment.zip"),
        "zip_bytes": (out / "deployment.zip").stat().st_size,
        **counts,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.build", description=__doc__.splitlines()[0])
    parser.add_argument("--region", default=os.environ.get("DEPLOY_REGION") or "eu-west-3")
    parser.add_argument("--stage", default=DEFAULT_STAGE)
    parser.add_argument("--out", type=Path, default=Path("build/package"))
    parser.add_argument("--project-dir", type=Path, default=Path("."))
    parser.add_argument("--no-bytecode", action="store_true", help="skip precompiling the zip")
    parser.add_argument("--template-only", action="store_true", help="print the merge template and stop")
    args = parser.parse_args(argv)
    try:
        check_region(args.region)
        if args.template_only:
            functions = discover_functions(args.project_dir.resolve(), args.stage)
            stage_name = api_stage_name(args.project_dir.resolve(), args.stage)
            print(json.dumps(merge_template(functions, args.region, args.stage, stage_name), indent=2))
            return 0
        summary = build(args.project_dir, args.out, args.region, args.stage, precompile=not args.no_bytecode)
    except RegionNotAllowedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (BuildError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
