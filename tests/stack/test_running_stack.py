"""The stack `make run` starts, as a developer and the mobile client see it (one stack per session)."""

from __future__ import annotations

import json
import socket
import ssl
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
from botocore.exceptions import ClientError
from stdnum import luhn

from devtools.login import local_cognito_client, login_stack_user, totp_code
from devtools.stack import PROJECT_DIR, port_is_free
from testkit import harness

pytestmark = pytest.mark.xdist_group("stack")


def test_stack_json_follows_the_contract(local_stack: dict[str, Any]) -> None:
    for key in ("api_url", "aws_endpoint_url", "region", "user_pool_id", "client_id", "sidep_url", "users"):
        assert local_stack[key], key
    assert local_stack["api_url"].startswith("http://127.0.0.1:")
    assert local_stack["aws_endpoint_url"].startswith("http://127.0.0.1:")
    assert local_stack["sidep_url"].startswith("https://127.0.0.1:")
    assert local_stack["region"] == "eu-west-3"
    assert local_stack["user_pool_id"].startswith("eu-west-3_")
    for user in local_stack["users"]:
        assert set(user) >= {"username", "password", "totp_secret", "role", "finess"}
    # The file holds passwords and TOTP secrets: readable by its owner only.
    mode = Path(local_stack["state_dir"], "stack.json").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_seeds_two_pharmacies_with_a_pharmacist_and_an_admin_each_and_a_platform_admin(
    local_stack: dict[str, Any],
) -> None:
    users = local_stack["users"]
    pharmacies: dict[str, set[str]] = {}
    for user in users:
        if user["finess"] is not None:
            pharmacies.setdefault(user["finess"], set()).add(user["role"])
    assert len(pharmacies) >= 2
    assert all(roles == {"pharmacist", "pharmacy_admin"} for roles in pharmacies.values())
    assert all(len(f) == 9 and f.isdigit() and luhn.is_valid(f) for f in pharmacies)
    assert [u["finess"] for u in users if u["role"] == "platform_admin"] == [None]
    # Random per run, and within the pool's policy (12+ characters from four classes).
    passwords = [u["password"] for u in users]
    assert len(set(passwords)) == len(passwords)
    for password in passwords:
        assert len(password) >= 12
        assert any(c.isupper() for c in password) and any(c.islower() for c in password)
        assert any(c.isdigit() for c in password) and any(not c.isalnum() for c in password)


def test_health_answers_200(local_stack: dict[str, Any]) -> None:
    with urllib.request.urlopen(f"{local_stack['api_url']}/v1/health", timeout=10) as response:
        assert response.status == 200
        assert json.load(response) == {"status": "ok"}


def test_every_part_listens_and_logs_to_its_own_file(local_stack: dict[str, Any]) -> None:
    assert not any(port_is_free(port) for port in harness.ports_of(local_stack))
    logs = Path(local_stack["state_dir"], "logs")
    assert {p.name for p in logs.iterdir()} >= {"api.log", "aws.log", "sidep.log", "export.log"}
    assert "/v1/health" in (logs / "api.log").read_text()
    for pid in local_stack["processes"].values():
        assert harness.pid_alive(pid)


def test_the_server_pool_enforces_mfa_and_token_lifetimes(local_stack: dict[str, Any]) -> None:
    cognito = local_cognito_client(local_stack)
    pool = cognito.describe_user_pool(UserPoolId=local_stack["user_pool_id"])["UserPool"]
    assert pool["MfaConfiguration"] == "ON"
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    client = cognito.describe_user_pool_client(
        UserPoolId=local_stack["user_pool_id"], ClientId=local_stack["client_id"]
    )["UserPoolClient"]
    assert (client["AccessTokenValidity"], client["TokenValidityUnits"]["AccessToken"]) == (15, "minutes")


@pytest.mark.parametrize("username", ["pharmacist-a", "operator"])
def test_a_user_logs_in_with_password_and_totp(local_stack: dict[str, Any], username: str) -> None:
    tokens = login_stack_user(local_stack, username)
    # The token verifies against the JWKS the API is configured with.
    signing_key = jwt.PyJWKClient(local_stack["env"]["JWKS_URL"]).get_signing_key_from_jwt(
        tokens["AccessToken"]
    )
    claims = jwt.decode(
        tokens["AccessToken"],
        signing_key.key,
        algorithms=["RS256"],
        issuer=f"https://cognito-idp.eu-west-3.amazonaws.com/{local_stack['user_pool_id']}",
    )
    assert claims["token_use"] == "access"
    assert claims["username"] == username
    assert claims["client_id"] == local_stack["client_id"]


def test_a_wrong_totp_code_is_refused(local_stack: dict[str, Any]) -> None:
    user = next(u for u in local_stack["users"] if u["username"] == "pharmacist-b")
    cognito = local_cognito_client(local_stack)
    started = cognito.initiate_auth(
        ClientId=local_stack["client_id"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user["username"], "PASSWORD": user["password"]},
    )
    assert started["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    assert "AuthenticationResult" not in started
    current = totp_code(user["totp_secret"])
    wrong = f"{(int(current) + 1) % 10**6:06d}"
    with pytest.raises(ClientError) as refused:
        cognito.respond_to_auth_challenge(
            ClientId=local_stack["client_id"],
            ChallengeName="SOFTWARE_TOKEN_MFA",
            Session=started["Session"],
            ChallengeResponses={"USERNAME": user["username"], "SOFTWARE_TOKEN_MFA_CODE": wrong},
        )
    assert refused.value.response["Error"]["Code"] == "CodeMismatchException"


def _login_cli(local_stack: dict[str, Any], username: str) -> subprocess.CompletedProcess[str]:
    stack_file = Path(local_stack["state_dir"], "stack.json")
    return subprocess.run(
        [sys.executable, "-m", "devtools.login", username, "--stack", str(stack_file)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_login_helper_prints_only_an_access_token(local_stack: dict[str, Any]) -> None:
    done = _login_cli(local_stack, "admin-a")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1
    claims = jwt.decode(lines[0], options={"verify_signature": False})
    assert (claims["token_use"], claims["username"]) == ("access", "admin-a")


def test_the_login_helper_fails_clearly_for_an_unknown_user(local_stack: dict[str, Any]) -> None:
    done = _login_cli(local_stack, "nobody")
    assert done.returncode != 0
    assert done.stdout == ""
    assert "nobody" in done.stderr


def test_a_second_stack_on_the_same_state_dir_is_refused(local_stack: dict[str, Any]) -> None:
    # It would wipe the running stack's logs and certificates.
    done = subprocess.run(
        harness.stack_command(Path(local_stack["state_dir"])),
        cwd=PROJECT_DIR,
        env=harness.stack_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "already running" in done.stderr
    assert Path(local_stack["state_dir"], "stack.json").exists()


def _tls_handshake(url: str, ca_file: str, cert: tuple[str, str] | None) -> None:
    host, port = url.removeprefix("https://").rstrip("/").split(":")
    context = ssl.create_default_context(cafile=ca_file)
    if cert:
        context.load_cert_chain(*cert)
    with (
        socket.create_connection((host, int(port)), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        # TLS 1.3 reports a refused client certificate on the first read, not in the handshake.
        tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
        tls.recv(1)


def test_the_fake_sidep_receiver_wants_the_stack_s_client_certificate(local_stack: dict[str, Any]) -> None:
    env = local_stack["env"]
    assert env["SIDEP_URL"] == local_stack["sidep_url"]
    # the export's copy, in the stack's Secrets Manager (moto), is the receiver's client certificate
    secrets = boto3.client(
        "secretsmanager", endpoint_url=local_stack["aws_endpoint_url"], region_name="eu-west-3"
    )
    value = json.loads(secrets.get_secret_value(SecretId=env["SIDEP_TLS_SECRET_ID"])["SecretString"])
    certs = Path(local_stack["sidep_certs"])
    assert value["certificate"] == (certs / "client.pem").read_text()
    assert value["ca_bundle"] == (certs / "ca.pem").read_text()
    assert not {k for k in env if k.startswith("SIDEP_") and k.endswith("_FILE")}  # no file paths
    ca = str(certs / "ca.pem")
    _tls_handshake(local_stack["sidep_url"], ca, (str(certs / "client.pem"), str(certs / "client-key.pem")))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _tls_handshake(local_stack["sidep_url"], ca, None)


def _api(local_stack: dict[str, Any], method: str, path: str, token: str, body: object = None) -> Any:
    request = urllib.request.Request(
        f"{local_stack['api_url']}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.load(response)


def test_a_recorded_result_reaches_the_fake_sidep_through_the_export_timer(
    local_stack: dict[str, Any],
) -> None:
    token = login_stack_user(local_stack, "pharmacist-b")["AccessToken"]
    status, record = _api(
        local_stack,
        "POST",
        "/v1/tests",
        token,
        {
            "patient": {
                "nir": "2 95 10 99 126 111 93",
                "last_name": "Dupont",
                "first_name": "Jeanne",
                "birth_date": "1995-10-01",
                "sex": "F",
            },
            "test": {
                "kind": "antigen",
                "device_id": "1232",
                "sampled_at": "2026-11-29T10:15:00+01:00",
                "result": "negative",
            },
        },
    )
    assert status == 201
    messages = Path(local_stack["state_dir"], "sidep", "messages.json")
    ledger = Path(local_stack["sidep_ledger"])
    deadline = time.monotonic() + 60  # the export runs every 2 s in these tests
    delivered: list[str] = []
    while not delivered and time.monotonic() < deadline:
        if messages.exists():
            sent = json.loads(messages.read_text())
            delivered = [cid for cid, m in sent.items() if m["record_id"] == record["id"]]
        time.sleep(0.5)
    assert delivered, f"not delivered; read {local_stack['logs'].get('export')}"
    assert all(json.loads(ledger.read_text())[cid] >= 1 for cid in delivered)
    assert any(Path(local_stack["sidep_inbox"]).iterdir())
