"""How the operator commands find the service (operations/target.py) and what they say when they
cannot: one line on stderr, exit 2, never a traceback."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from operations import cli, export, purge, status, target, verify_audit

LOCAL_ENV = {
    "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
    "AWS_DEFAULT_REGION": "eu-west-3",
    "DATA_KEY_ID": "arn:aws:kms:eu-west-3:123456789012:key/data",
    "BLIND_INDEX_KEY_ID": "arn:aws:kms:eu-west-3:123456789012:key/blind",
    "AUDIT_KEY_ID": "arn:aws:kms:eu-west-3:123456789012:key/audit",
}


def stack_file(tmp_path: Path, **env: str) -> Path:
    path = tmp_path / "stack.json"
    info = {"aws_endpoint_url": "http://127.0.0.1:1", "region": "eu-west-3", "state_dir": str(tmp_path)}
    path.write_text(json.dumps({**info, "env": {**LOCAL_ENV, **env}}))
    return path


def test_a_stack_file_gives_its_settings_its_state_dir_and_fake_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "someones-real-profile")
    found = target.find(stack=str(stack_file(tmp_path)), environ={})
    assert found.kind == "local" and found.state_dir == tmp_path
    assert found.settings().audit_key_id == LOCAL_ENV["AUDIT_KEY_ID"]
    assert found.last_export_run == tmp_path / target.LAST_EXPORT_RUN_FILE
    found.apply()
    import os

    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing" and "AWS_PROFILE" not in os.environ
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"


def test_without_flags_the_environment_wins_when_it_names_the_keys_else_the_local_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = stack_file(tmp_path)
    monkeypatch.setattr(target, "DEFAULT_STACK_FILE", path)
    assert target.find(environ={"AUDIT_KEY_ID": "k"}).kind == "environment"
    assert target.find(environ={"AWS_ENDPOINT_URL": "http://elsewhere"}).kind == "local"


def test_nothing_to_find_names_what_is_missing_and_how_to_give_it() -> None:
    with pytest.raises(target.TargetError) as error:
        target.find(environ={})
    assert "make run" in str(error.value) and "--stack" in str(error.value) and "--stage" in str(error.value)
    with pytest.raises(target.TargetError, match="not found"):
        target.find(stack="/nonexistent/stack.json")
    with pytest.raises(target.TargetError, match="two different services"):
        target.find(stack="a", stage="b")


def test_a_stack_file_that_is_not_one_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "stack.json"
    bad.write_text("{}")
    with pytest.raises(target.TargetError, match="not a stack file"):
        target.find(stack=str(bad))


@pytest.mark.parametrize(
    ("module", "argv"),
    [
        (verify_audit, ["--all"]),
        (export, ["run"]),
        (export, ["redrive"]),
        (purge, ["--dry-run"]),
        (status, []),
    ],
)
def test_every_command_without_a_service_says_one_line_and_exits_2(
    module: Any, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    run = getattr(module, "main", None) if module is not verify_audit else verify_audit.run
    assert run is not None
    assert run(argv) == cli.EXIT_CANNOT_RUN
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "no service found" in lines[0] and "make run" in lines[0], captured.err
    assert "Traceback" not in captured.err


def test_a_missing_setting_is_named_with_how_to_give_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = stack_file(tmp_path, AUDIT_KEY_ID="")
    assert verify_audit.run(["--all", "--stack", str(path)]) == cli.EXIT_CANNOT_RUN
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "AUDIT_KEY_ID not set" in err[0] and "--stack" in err[0]


def test_a_stack_file_left_by_a_killed_stack_is_named_as_such_in_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # port 1 refuses connections: no verdict, no traceback, no EndpointConnectionError
    assert status.main(["--stack", str(stack_file(tmp_path))]) == cli.EXIT_CANNOT_RUN
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("status: the local stack is not running:"), err
    assert "make run" in err[0] and "EndpointConnectionError" not in err[0]


def test_a_stage_outside_the_hds_regions_is_refused_before_any_read() -> None:
    found = target.Target("stage x", {"AWS_REGION": "us-east-1"}, "deployed")
    with pytest.raises(target.TargetError, match="HDS"):
        found.settings()


class FakeLambda:
    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return self.answer


def test_a_deployed_run_invokes_the_function_with_a_scheduled_event() -> None:
    found = target.Target(
        "stage prod", {"AWS_REGION": "eu-west-3"}, "deployed", outputs={"ExportFunctionName": "fn"}
    )
    fake = FakeLambda({"Payload": io.BytesIO(b'{"leased": 3}')})
    assert target.invoke_deployed(found, "ExportFunctionName", fake) == {"leased": 3}
    event = json.loads(fake.calls[0]["Payload"])
    assert fake.calls[0]["FunctionName"] == "fn"
    assert {"detail", "detail-type", "source", "time", "id", "resources", "region"} <= set(event)


def test_a_failed_deployed_run_names_its_log_group_and_not_its_error_text() -> None:
    found = target.Target(
        "stage prod", {"AWS_REGION": "eu-west-3"}, "deployed", outputs={"PurgeFunctionName": "fn"}
    )
    payload = b'{"errorType": "ServiceUnavailable", "errorMessage": "anything at all"}'
    fake = FakeLambda({"FunctionError": "Unhandled", "Payload": io.BytesIO(payload)})
    with pytest.raises(RuntimeError) as error:
        target.invoke_deployed(found, "PurgeFunctionName", fake)
    assert "/aws/lambda/fn" in str(error.value) and "anything" not in str(error.value)


def test_ages_read_as_people_write_them() -> None:
    assert [cli.age(s) for s in (None, 5, 600, 3 * 3600 + 300, 2 * 86400 + 3600)] == [
        "-",
        "5s",
        "10m",
        "3h05m",
        "2d01h",
    ]


def test_tables_align_numbers_right_and_names_left() -> None:
    out = io.StringIO()
    cli.Output(False, out).table(["chain", "events"], [("750000010", 5), ("platform", 12)])
    assert out.getvalue().splitlines() == [
        "  chain      events",
        "  750000010       5",
        "  platform       12",
    ]


def test_a_deployed_run_that_fans_out_says_how_many_shard_exporters_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from operations import cli
    from operations import export as export_command

    found = target.Target(
        "stage prod", {"AWS_REGION": "eu-west-3"}, "deployed", outputs={"ExportFunctionName": "fn"}
    )
    monkeypatch.setattr(export_command, "invoke_deployed", lambda *_: {"fanned_out": 8})
    text = io.StringIO()
    args = export_command.build_parser().parse_args(["run"])
    assert export_command.run_now(args, found, cli.Output(False, text)) == cli.EXIT_OK
    assert text.getvalue().splitlines() == [
        "export run on stage prod",
        "8 shard exporter(s) started: `status` shows their outcome",
    ]
