"""Log in to the local stack as a real client would, and print the API access token only.

    TOKEN=$(.venv/bin/python -m devtools.login pharmacist-a)          # Cognito: password, then TOTP
    TOKEN=$(.venv/bin/python -m devtools.login --psc 810000000017)    # Pro Santé Connect (e-CPS)

The Cognito user's password and TOTP secret come from `.local/stack.json`. A PSC login goes
through the API as the mobile app's does (CIBA through our server): start it, show the binding
code (on stderr, so that stdout stays the token), then play the professional: approve, on the
fake e-CPS (devtools/fake_psc.py), the push that shows the same code, and poll at the interval
until the session is granted. `make -s login USER=<username>` and `make -s login
PSC=<national_id>` run this. `login()`, `psc_login()` and `totp_code()` are the same flows for
tests.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from devtools.fake_psc import ECPS
from operations.target import DEFAULT_STACK_FILE  # where every operator command looks too

# Cognito's authenticator apps: RFC 6238 with SHA-1, 6 digits, 30-second steps.
TOTP_STEP_SECONDS = 30
TOTP_DIGITS = 6
# Cognito (and moto) accept only the current step: a code made in the last instants of a step
# may reach the server in the next one, so wait for a fresh step rather than fail at random.
_MIN_SECONDS_LEFT_IN_STEP = 2.0


class LoginError(RuntimeError):
    """The pool did not answer with the flow a client expects (e.g. no MFA challenge)."""


def _totp(secret: str) -> TOTP:
    padded = secret.upper() + "=" * (-len(secret) % 8)
    # moto's fixed secret is shorter than RFC 4226's 128-bit minimum, hence enforce_key_length=False.
    return TOTP(
        base64.b32decode(padded),
        TOTP_DIGITS,
        SHA1(),  # noqa: S303 - SHA-1 is what TOTP authenticators and Cognito use
        TOTP_STEP_SECONDS,
        enforce_key_length=False,
    )


def totp_code(secret: str, at: float | None = None) -> str:
    """The TOTP code of a base32 secret at a time (now by default)."""
    when = time.time() if at is None else at
    return _totp(secret).generate(int(when)).decode("ascii")


def fresh_totp_code(secret: str) -> str:
    """A code that stays valid long enough to reach the server."""
    left = TOTP_STEP_SECONDS - time.time() % TOTP_STEP_SECONDS
    if left < _MIN_SECONDS_LEFT_IN_STEP:
        time.sleep(left + 0.05)
    return totp_code(secret)


def login(
    cognito_client: Any, client_id: str, username: str, password: str, totp_secret: str
) -> dict[str, Any]:
    """InitiateAuth (USER_PASSWORD_AUTH) then the SOFTWARE_TOKEN_MFA challenge; return the tokens.

    A wrong password or code raises botocore's ClientError (NotAuthorizedException,
    CodeMismatchException), as the pool answers it.
    """
    started = cognito_client.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    challenge = started.get("ChallengeName")
    if challenge != "SOFTWARE_TOKEN_MFA":
        # Tokens without a second factor would mean the pool does not enforce MFA.
        raise LoginError(f"expected the SOFTWARE_TOKEN_MFA challenge, got {challenge or 'tokens'}")
    answered = cognito_client.respond_to_auth_challenge(
        ClientId=client_id,
        ChallengeName="SOFTWARE_TOKEN_MFA",
        Session=started["Session"],
        ChallengeResponses={"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": fresh_totp_code(totp_secret)},
    )
    result = answered.get("AuthenticationResult")
    if not result:
        raise LoginError(f"expected tokens, got the {answered.get('ChallengeName')} challenge")
    tokens: dict[str, Any] = result
    return tokens


def local_cognito_client(stack: dict[str, Any]) -> Any:
    """A Cognito client for the local stack's moto, with fake credentials (never a developer's real ones)."""
    return boto3.client(
        "cognito-idp",
        endpoint_url=stack["aws_endpoint_url"],
        region_name=stack["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # pragma: allowlist secret
        aws_session_token="testing",
    )


def login_stack_user(stack: dict[str, Any], username: str) -> dict[str, Any]:
    """Log a user of a stack.json in; return the tokens."""
    user = next((u for u in stack["users"] if u["username"] == username), None)
    if user is None:
        known = ", ".join(u["username"] for u in stack["users"])
        raise LoginError(f"no user {username!r} in the stack (known: {known})")
    return login(
        local_cognito_client(stack), stack["client_id"], username, user["password"], user["totp_secret"]
    )


def approve_on_fake_ecps(psc_url: str, national_id: str, binding_message: str) -> str:
    """The professional approves, on the fake e-CPS, the push that shows `binding_message`; its
    answer ("approved", or "declined" for an identity that declines). LoginError if no push shows it."""
    answered = requests.post(
        f"{psc_url}{ECPS}/approve",
        data={"national_id": national_id, "binding_message": binding_message},
        timeout=10,
    )
    if answered.status_code != 200:
        raise LoginError(f"no push on the e-CPS shows the code {binding_message}")
    return str(answered.json().get("answer", ""))


def psc_login(
    api_url: str,
    national_id: str,
    *,
    say: Any = None,
    approve: Callable[[str], object] | None = None,
    sleep: Any = time.sleep,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Start a Pro Santé Connect login at the API, show its binding code (`say`), let the e-CPS
    answer the push that shows it (`approve(code)`), and poll; return the token response.

    LoginError names PSC's answer (access_denied, expired_token, a refusal by the directory check).
    """
    started = requests.post(f"{api_url}/v1/psc/logins", json={"national_id": national_id}, timeout=10)
    body = started.json()
    if started.status_code != 201:
        raise LoginError(f"{started.status_code} {body.get('error', '')}: {body.get('detail', '')}".strip())
    code = str(body["binding_message"])
    if say is not None:
        say(f"binding code: {code} (approve on your e-CPS only the push that shows it)")
    if approve is not None:
        answer = approve(code)
        if say is not None:
            say(f"e-CPS: the push showing {code} was {answer}")
    interval = float(body["interval"])
    deadline = time.monotonic() + min(timeout, float(body["expires_in"]))
    while time.monotonic() < deadline:
        sleep(interval)
        polled = requests.post(f"{api_url}/v1/psc/logins/{body['login_id']}/token", timeout=10)
        answer = polled.json()
        if polled.status_code == 200:
            tokens: dict[str, Any] = answer
            return tokens
        if answer.get("error") == "slow_down":
            interval = float(polled.headers.get("Retry-After") or interval + 5)
        elif answer.get("error") != "authorization_pending":
            raise LoginError(
                f"{polled.status_code} {answer.get('error', '')}: {answer.get('detail', '')}".strip()
            )
    raise LoginError("the login was not approved in time")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.login",
        description="Log a local-stack user in (Cognito: password + TOTP; or Pro Santé Connect) "
        "and print an access token.",
    )
    parser.add_argument("username", nargs="?", help="a username from stack.json, e.g. pharmacist-a")
    parser.add_argument("--psc", metavar="NATIONAL_ID", help="log in with Pro Santé Connect (see psc_users)")
    parser.add_argument(
        "--stack", default=str(DEFAULT_STACK_FILE), help="the stack file (default: %(default)s)"
    )
    parser.add_argument("--id-token", action="store_true", help="print the ID token instead (for tests)")
    args = parser.parse_args(argv)
    path = Path(args.stack)
    if not path.is_file():
        print(f"{path} not found: is the local stack running (make run)?", file=sys.stderr)
        return 2
    stack = json.loads(path.read_text())
    if (args.psc is None) == (args.username is None):
        parser.error("name a username, or --psc NATIONAL_ID")
    try:
        if args.psc is not None:
            known = {u["national_id"] for u in stack.get("psc_users", [])}
            if args.psc not in known:
                print(
                    f"no PSC user {args.psc!r} in the stack (known: {', '.join(sorted(known))})",
                    file=sys.stderr,
                )
                return 1
            tokens = psc_login(
                stack["api_url"],
                args.psc,
                say=lambda m: print(m, file=sys.stderr),
                approve=lambda code: approve_on_fake_ecps(stack["psc_url"], args.psc, code),
            )
            print(tokens["access_token"])
            return 0
        tokens = login_stack_user(stack, args.username)
    except LoginError as exc:
        print(f"login failed: {exc}", file=sys.stderr)
        return 1
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(f"login refused: {error.get('Code')}: {error.get('Message')}", file=sys.stderr)
        return 1
    print(tokens["IdToken" if args.id_token else "AccessToken"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
