"""The packaged template and zip (`make package`): linters clean and every security property asserted."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.dynamodb.models import ALL_MODELS
from chalicelib.config import HDS_REGIONS, load_settings
from infra.build import BOTOCORE_SERVICES
from infra.lock import LOCK_FILE, canonical, read_lock
from infra.template import (
    EXPORT_WRITABLE_ATTRIBUTES,
    LOG_RETENTION_DAYS,
    PERSONAL_ATTRIBUTES,
    table_logical_id,
)
from tests.infra.conftest import ROOT, load_template, run_cfn_lint, run_checkov

MANAGE_KMS = (
    "kms:Create",
    "kms:Put",
    "kms:Update",
    "kms:Disable",
    "kms:Delete",
    "kms:Schedule",
    "kms:Enable",
    "kms:Cancel",
    "kms:Revoke",
    "kms:Retire",
    "kms:Tag",
    "kms:Untag",
    "kms:ReplicateKey",
)


def _functions(t: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in t["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def _policy(t: dict[str, Any], function_id: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = t["Resources"][f"{function_id}Policy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    assert t["Resources"][f"{function_id}Policy"]["Properties"]["Roles"] == [{"Ref": f"{function_id}Role"}]
    return statements


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement.get("Action", [])
    return [action] if isinstance(action, str) else list(action)


def _allowed(statements: list[dict[str, Any]], resource_id: str) -> set[str]:
    out: set[str] = set()
    for s in statements:
        if s["Effect"] == "Allow" and resource_id in str(s["Resource"]):
            out.update(_actions(s))
    return out


def _key_statements(t: dict[str, Any], key: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = t["Resources"][key]["Properties"]["KeyPolicy"]["Statement"]
    return statements


def _for_role(statements: list[dict[str, Any]], role: str, effect: str) -> list[dict[str, Any]]:
    return [
        s
        for s in statements
        if s["Effect"] == effect and s["Principal"] == {"AWS": {"Fn::GetAtt": [role, "Arn"]}}
    ]


# --- linters --------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["real_package", "fake_package"])
def test_cfn_lint_is_clean(which: str, request: pytest.FixtureRequest) -> None:
    package: Path = request.getfixturevalue(which)
    result = run_cfn_lint(package / "sam.json")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("which", ["real_package", "fake_package"])
def test_checkov_is_clean_and_every_skip_is_justified(which: str, request: pytest.FixtureRequest) -> None:
    package: Path = request.getfixturevalue(which)
    report = run_checkov(package / "sam.json")
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert report["returncode"] == 0 and summary["failed"] == 0, failed
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 40  # it did scan the resources
    for check in report["results"]["skipped_checks"]:
        assert len(check["check_result"].get("suppress_comment", "")) > 30, check["check_id"]


# --- the region ----------------------------------------------------------------------------------


def test_template_asserts_the_hds_region(real_package: Path) -> None:
    t = load_template(real_package)
    rule = t["Rules"]["HdsRegionOnly"]["Assertions"][0]
    assert rule["Assert"] == {"Fn::Contains": [list(HDS_REGIONS), {"Ref": "AWS::Region"}]}
    assert "HDS" in rule["AssertDescription"]
    assert t["Metadata"]["depistage"]["region"] == "eu-west-3"


# --- KMS ----------------------------------------------------------------------------------------


def test_keys_specs_rotation_and_retention(real_package: Path) -> None:
    r = load_template(real_package)["Resources"]
    data = r["DataKey"]["Properties"]
    assert (data["KeySpec"], data["KeyUsage"], data["EnableKeyRotation"]) == (
        "SYMMETRIC_DEFAULT",
        "ENCRYPT_DECRYPT",
        True,
    )
    assert r["StorageKey"]["Properties"]["EnableKeyRotation"] is True
    blind = r["BlindIndexKey"]["Properties"]
    assert (blind["KeySpec"], blind["KeyUsage"]) == ("HMAC_256", "GENERATE_VERIFY_MAC")
    audit = r["AuditKey"]["Properties"]
    assert (audit["KeySpec"], audit["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")
    for key in ("DataKey", "StorageKey", "BlindIndexKey", "AuditKey"):
        assert r[key]["DeletionPolicy"] == "Retain"
        admin = _key_statements({"Resources": r}, key)[0]
        assert admin["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}


def test_api_uses_but_never_manages_keys(fake_package: Path) -> None:
    t = load_template(fake_package)
    expected = {
        "DataKey": {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"},
        "BlindIndexKey": {"kms:GenerateMac", "kms:VerifyMac"},
    }
    policy = _policy(t, "APIHandler")
    # No right at all on the audit signing key: denied everything by the key policy.
    (deny,) = _for_role(_key_statements(t, "AuditKey"), "APIHandlerRole", "Deny")
    assert deny["Action"] == "kms:*"
    assert not _for_role(_key_statements(t, "AuditKey"), "APIHandlerRole", "Allow")
    for key, actions in expected.items():
        statements = _key_statements(t, key)
        allows = _for_role(statements, "APIHandlerRole", "Allow")
        assert {a for s in allows for a in _actions(s)} == actions
        denies = _for_role(statements, "APIHandlerRole", "Deny")
        assert len(denies) == 1 and set(denies[0]["NotAction"]) == actions  # nothing else, whatever IAM says
        assert _allowed(policy, key) == actions
    every_action = {a for s in policy for a in _actions(s)}
    assert not any(a.startswith(MANAGE_KMS) or a in ("kms:*", "*") for a in every_action)


def test_export_only_decrypts_the_data_key(fake_package: Path) -> None:
    t = load_template(fake_package)
    allows = _for_role(_key_statements(t, "DataKey"), "ExportToSidepRole", "Allow")
    assert [a for s in allows for a in _actions(s)] == ["kms:Decrypt"]
    assert not _for_role(_key_statements(t, "BlindIndexKey"), "ExportToSidepRole", "Allow")
    assert _for_role(_key_statements(t, "BlindIndexKey"), "ExportToSidepRole", "Deny")[0]["Action"] == "kms:*"
    # it journals, but never signs: no right on the audit key
    assert not _for_role(_key_statements(t, "AuditKey"), "ExportToSidepRole", "Allow")
    policy = _policy(t, "ExportToSidep")
    kms = {a for s in policy for a in _actions(s) if a.startswith("kms:")}
    assert kms == {"kms:Decrypt"}


def test_storage_key_only_through_dynamodb_sqs_and_s3(fake_package: Path) -> None:
    t = load_template(fake_package)
    for role in ("APIHandlerRole", "ExportToSidepRole", "PurgeExpiredRole", "CheckpointAuditRole"):
        (allow,) = _for_role(_key_statements(t, "StorageKey"), role, "Allow")
        services = allow["Condition"]["StringEquals"]["kms:ViaService"]
        # and the API alone through Secrets Manager: it reads the PSC client secret
        expected = ["dynamodb", "sqs", "s3", *(["secretsmanager"] if role == "APIHandlerRole" else [])]
        assert [s["Fn::Sub"].split(".")[0] for s in services] == expected


# --- IAM -----------------------------------------------------------------------------------------


def test_each_function_runs_with_its_own_role(fake_package: Path) -> None:
    t = load_template(fake_package)
    functions = _functions(t)
    assert set(functions) == {"APIHandler", "ExportToSidep", "PurgeExpired", "CheckpointAudit", "AuditToWorm"}
    roles = set()
    for name, fn in functions.items():
        assert fn["Properties"]["Role"] == {"Fn::GetAtt": [f"{name}Role", "Arn"]}
        assert t["Resources"][f"{name}Role"]["Type"] == "AWS::IAM::Role"
        assert f"{name}Policy" in fn["DependsOn"]
        roles.add(f"{name}Role")
    assert len(roles) == len(functions)


def test_export_cannot_write_personal_data(fake_package: Path) -> None:
    t = load_template(fake_package)
    policy = _policy(t, "ExportToSidep")
    records = table_logical_id(ALL_MODELS[0])
    assert records == "RecordsTable"
    plain_allows = {
        a
        for s in policy
        if s["Effect"] == "Allow" and "Condition" not in s and records in str(s["Resource"])
        for a in _actions(s)
    }
    assert not plain_allows & {
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
    }
    (update,) = [s for s in policy if s["Effect"] == "Allow" and "dynamodb:UpdateItem" in _actions(s)]
    allowed = update["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]
    assert set(allowed) == set(EXPORT_WRITABLE_ATTRIBUTES)
    assert not set(allowed) & set(PERSONAL_ATTRIBUTES)
    deny = next(s for s in policy if s.get("Sid") == "NeverWritePersonalData")
    assert deny["Effect"] == "Deny"
    assert set(deny["Condition"]["ForAnyValue:StringEquals"]["dynamodb:Attributes"]) == set(
        PERSONAL_ATTRIBUTES
    )
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"} <= set(deny["Action"])
    never = next(s for s in policy if s.get("Sid") == "NeverCreateOrDeleteRecords")
    assert never["Effect"] == "Deny" and "dynamodb:PutItem" in never["Action"]
    assert not any("cognito" in a for s in policy for a in _actions(s))


def test_audit_journal_is_append_only_for_every_function(fake_package: Path) -> None:
    t = load_template(fake_package)
    for name in _functions(t):
        actions = _allowed(_policy(t, name), "AuditTable")
        # every function journals what it does, but the checkpointer, which only reads chain heads,
        # and the WORM copy, which only reads the table's stream
        assert ("dynamodb:PutItem" in actions) == (name not in ("CheckpointAudit", "AuditToWorm"))
        assert not actions & {"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}


def test_policies_name_their_resources_no_wildcards(fake_package: Path) -> None:
    t = load_template(fake_package)
    for name in _functions(t):
        for s in _policy(t, name):
            assert s["Resource"] not in ("*", ["*"]), (name, s)
            assert not any(a.endswith(":*") or a == "*" for a in _actions(s)), (name, s)


# --- functions: environment, dead letters, tracing ---------------------------------------------


def _resolve(value: Any) -> str:
    """A stand-in for a CloudFormation value: its logical id, so each maps back to one resource."""
    if isinstance(value, dict):
        ((_intrinsic, arg),) = value.items()
        return f"<{arg[0] if isinstance(arg, list) else arg}>"
    return str(value)


@pytest.mark.parametrize("which", ["real_package", "fake_package"])
def test_environment_is_what_load_settings_reads(which: str, request: pytest.FixtureRequest) -> None:
    t = load_template(request.getfixturevalue(which))
    for name, fn in _functions(t).items():
        env = {k: _resolve(v) for k, v in fn["Properties"]["Environment"]["Variables"].items()}
        settings = load_settings({**env, "AWS_REGION": "eu-west-3"})
        assert settings.stage == "prod"
        for model in ALL_MODELS:
            from chalicelib.adapters.dynamodb.models import TABLE_SETTINGS

            assert getattr(settings, TABLE_SETTINGS[model]) == f"<{table_logical_id(model)}>"
        assert settings.data_key_id == "<DataKey>"
        assert settings.blind_index_key_id == "<BlindIndexKey>"
        assert settings.audit_key_id == "<AuditKey>"
        assert settings.user_pool_id == "<UserPool>"
        assert settings.app_client_ids == ("<UserPoolClient>",)
        assert env["POWERTOOLS_TRACE_DISABLED"] == "true"
        assert fn["Properties"]["Tracing"] == "PassThrough"
        if name in ("ExportToSidep", "ExportShard", "ExportOnChange"):  # the exporters
            assert settings.sidep_url == "<SidepUrl>"
            assert settings.sidep_tls_secret_id == "<SidepTlsSecret>"
        else:
            assert "SIDEP_URL" not in env


def test_scheduled_functions_have_dead_letters_and_one_run_at_a_time(fake_package: Path) -> None:
    t = load_template(fake_package)
    export = t["Resources"]["ExportToSidep"]["Properties"]
    assert export["DeadLetterQueue"] == {
        "Type": "SQS",
        "TargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
    }
    assert export["ReservedConcurrentExecutions"] == 1
    assert export["Events"]["ExportToSidepEvent"]["Properties"]["Schedule"] == "rate(5 minutes)"
    assert export["Timeout"] == 300
    assert "sqs:SendMessage" in _allowed(_policy(t, "ExportToSidep"), "DeadLetterQueue")
    assert t["Resources"]["DeadLetterQueue"]["Properties"]["KmsMasterKeyId"] == {"Ref": "StorageKey"}


# --- tables, pool, logs, alarms, API ------------------------------------------------------------


def test_tables_on_demand_pitr_protected_encrypted_with_ttl(real_package: Path) -> None:
    r = load_template(real_package)["Resources"]
    for model in ALL_MODELS:
        table = r[table_logical_id(model)]
        props = table["Properties"]
        assert table["DeletionPolicy"] == "Retain"
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["DeletionProtectionEnabled"] is True
        assert props["SSESpecification"] == {
            "SSEEnabled": True,
            "SSEType": "KMS",
            "KMSMasterKeyId": {"Fn::GetAtt": ["StorageKey", "Arn"]},
        }
    assert r["RecordsTable"]["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "expires_at",
        "Enabled": True,
    }


def test_pool_mfa_totp_only_and_invitations_only(real_package: Path) -> None:
    r = load_template(real_package)["Resources"]
    pool = r["UserPool"]["Properties"]
    assert pool["MfaConfiguration"] == "ON" and pool["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] >= 12
    assert r["UserPoolClient"]["Properties"]["GenerateSecret"] is False


def test_log_groups_one_year_encrypted(fake_package: Path) -> None:
    t = load_template(fake_package)
    groups = {k: v for k, v in t["Resources"].items() if v["Type"] == "AWS::Logs::LogGroup"}
    for name, fn in _functions(t).items():
        group = groups[f"{name}LogGroup"]["Properties"]
        assert group["LogGroupName"] == {
            "Fn::Sub": "/aws/lambda/${AWS::StackName}-"
            + fn["Properties"]["FunctionName"]["Fn::Sub"].split("-", 1)[1]
        }
        assert f"{name}LogGroup" in fn["DependsOn"]
    assert {"ApiAccessLogGroup", "WafLogGroup"} <= set(groups)
    assert len(groups) == len(_functions(t)) + 2  # no stray group from chalice
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] == LOG_RETENTION_DAYS == 365
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["StorageKey", "Arn"]}


def test_alarms_notify_the_topic(fake_package: Path) -> None:
    r = load_template(fake_package)["Resources"]
    alarms = {k: v["Properties"] for k, v in r.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    metrics = {(a["Namespace"], a["MetricName"]) for a in alarms.values()}
    assert ("AWS/ApiGateway", "5XXError") in metrics
    assert ("AWS/Lambda", "Throttles") in metrics
    assert ("Depistage", "ExportOldestReadyAgeSeconds") in metrics
    assert ("Depistage", "ExportFailed") in metrics
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in metrics
    assert ("Depistage", "AuthFailures") in metrics
    assert ("Depistage", "UnauthenticatedRefusals") in metrics
    for name in ("APIHandler", "ExportToSidep", "PurgeExpired", "CheckpointAudit"):
        assert f"{name}ThrottlesAlarm" in alarms
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert r["AlarmTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "StorageKey"}
    auth = r["AuthFailuresMetricFilter"]["Properties"]
    assert auth["LogGroupName"] == {"Ref": "ApiAccessLogGroup"} and "401" in auth["FilterPattern"]


def test_api_throttled_logged_and_behind_a_rate_limiting_waf(real_package: Path) -> None:
    t = load_template(real_package)
    r = t["Resources"]
    api = r["RestAPI"]["Properties"]
    (settings,) = api["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiThrottleRate"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ApiThrottleBurst"}
    assert settings["DataTraceEnabled"] is False and settings["LoggingLevel"] == "ERROR"
    assert api["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    acl = r["WebAcl"]["Properties"]
    rate = next(rule for rule in acl["Rules"] if "RateBasedStatement" in rule["Statement"])
    assert rate["Action"] == {"Block": {}}
    assert rate["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    assert "/restapis/${RestAPI}/stages/v1" in r["WebAclAssociation"]["Properties"]["ResourceArn"]["Fn::Sub"]
    redacted = r["WafLogging"]["Properties"]["RedactedFields"]
    assert {"SingleHeader": {"Name": "authorization"}} in redacted


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
    "pynamodb",  # with the container's DynamoDB adapters, when chalicelib/bootstrap.py builds it
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
