"""Operator command: disable, delete or sign out a Cognito user, as the Cognito console does.

    python -m operations.users disable USERNAME     # make cognito DO=disable USER=<username>
    python -m operations.users sign-out USERNAME    # AdminUserGlobalSignOut
    python -m operations.users delete USERNAME
    python -m operations.users enable USERNAME      # they may log in again (new tokens only)

The call goes to the target's user pool. On a deployed stage that is all: CloudTrail records it
and EventBridge hands it to the stage's `end_cognito_sessions` function, which ends the user's
access tokens (chalicelib/services/identity_events.py; docs/security.md says how soon). The local
stack has no CloudTrail, so here the command delivers the record CloudTrail would write to that
same job, and prints how long after Cognito's answer the user's tokens were ended.
Exit status: 0 done; 2 could not run (no such user, AWS unreachable...).
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from operations import cli
from operations.target import CONTAINER_SETTINGS, Target

# command -> the user pools API call (boto3 method, CloudTrail eventName)
CALLS: dict[str, tuple[str, str]] = {
    "disable": ("admin_disable_user", "AdminDisableUser"),
    "sign-out": ("admin_user_global_sign_out", "AdminUserGlobalSignOut"),
    "delete": ("admin_delete_user", "AdminDeleteUser"),
    "enable": ("admin_enable_user", "AdminEnableUser"),
}


def cloudtrail_record(
    call: str, user_pool_id: str, username: str, region: str, at: datetime
) -> dict[str, Any]:
    """The management event CloudTrail records for an admin call of the user pools API (the
    `detail` of the EventBridge event "AWS API Call via CloudTrail")."""
    return {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole",
            "arn": "arn:aws:sts::000000000000:assumed-role/local/operator",
        },
        "eventTime": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "cognito-idp.amazonaws.com",
        "eventName": call,
        "awsRegion": region,
        "requestParameters": {"userPoolId": user_pool_id, "username": username},
        "responseElements": None,
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "eventCategory": "Management",
    }


def act(args: argparse.Namespace, target: Target, out: cli.Output) -> int:
    import boto3

    from chalicelib.adapters.aws import AwsClients
    from chalicelib.bootstrap import aws_calls

    settings = target.settings()
    method, call = CALLS[args.command]
    cognito: Any = AwsClients(boto3.Session(region_name=settings.region), aws_calls(settings)).cognito_idp()
    at = datetime.now(UTC)
    getattr(cognito, method)(UserPoolId=settings.user_pool_id, Username=args.username)
    answered = time.monotonic()
    result: dict[str, Any] = {"target": target.source, "username": args.username, "call": call}
    if args.command == "enable":
        out.line(f"{args.username}: enabled; they may log in again (earlier tokens stay refused)")
    elif target.kind == "deployed":
        out.line(
            f"{args.username}: {call} done; the stage's end_cognito_sessions function ends their "
            "access tokens when CloudTrail delivers the call (docs/security.md)"
        )
    else:
        from chalicelib.jobs import end_sessions_on_identity_event

        target.require(CONTAINER_SETTINGS)
        record = cloudtrail_record(call, settings.user_pool_id, args.username, settings.region, at)
        ended = end_sessions_on_identity_event(record)["ended"]
        delay_ms = round((time.monotonic() - answered) * 1000, 1)
        result.update(ended=ended, delay_ms=delay_ms)
        if ended:
            out.line(
                f"{args.username}: {call} done; access tokens ended {delay_ms} ms after Cognito's answer"
            )
        else:
            out.line(f"{args.username}: {call} done; no membership, so no session to end here")
    out.document(result)
    return cli.EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = cli.parser("users", "disable, delete or sign out a Cognito user", subcommands=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, call) in CALLS.items():
        sub = commands.add_parser(name, parents=[cli.common_options()], help=f"Cognito {call}")
        sub.add_argument("username", help="the Cognito username (as in .local/stack.json or GET …/members)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return cli.run("users", args, act)


if __name__ == "__main__":
    sys.exit(main())
