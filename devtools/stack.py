"""`make run`: the local stack (moto, fake SI-DEP, export timer, `chalice local`) until Ctrl-C.

    python -m devtools.stack [--state-dir .local] [--api-port 8000] [--aws-port 5000]
                                        [--sidep-port 8443] [--export-every 10]
                                        [--no-export-trigger]

Ports come from the flags, else API_PORT / AWS_PORT / SIDEP_PORT, else the contract's
defaults; 0 picks a free port (tests run several stacks side by side). moto keeps everything
in memory, so each start provisions and seeds afresh and wipes the previous run's logs and
SI-DEP state. When ready, `<state>/stack.json` says where everything is and who can log in.

Every child runs in its own session so that stopping it stops whatever it spawned, and no
stray Ctrl-C reaches it before we decide the order of shutdown.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import fcntl
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

import boto3

from chalicelib.adapters.dynamodb.models import TABLE_SETTINGS
from chalicelib.config import load_settings
from devtools.audit_jobs import REVIEW_STATE_FILE
from devtools.fake_psc import DIRECTORY_PATH as PSC_DIRECTORY_PATH
from devtools.fake_psc import DISCOVERY_PATH as PSC_DISCOVERY_PATH
from devtools.provision import PSC_CLIENT_ID
from operations.target import CONTAINER_SETTINGS, FAKE_CREDENTIALS, last_export_run_file

HOST = "127.0.0.1"
REGION = "eu-west-3"
PROJECT_DIR = Path(__file__).resolve().parents[1]
DEFAULT_STATE_DIR = PROJECT_DIR / ".local"
DEFAULT_PORTS = {"api": 8000, "aws": 5000, "sidep": 8443, "psc": 8081}
PORT_ENV = {"api": "API_PORT", "aws": "AWS_PORT", "sidep": "SIDEP_PORT", "psc": "PSC_PORT"}
PORT_LABEL = {
    "api": "the API (chalice local)",
    "aws": "AWS (moto server)",
    "sidep": "the fake SI-DEP receiver",
    "psc": "the fake Pro Santé Connect",
}
DEFAULT_EXPORT_EVERY = 10
# The local heartbeat: far more often than the hourly schedule, so a fresh stack verifies intact.
DEFAULT_CHECKPOINT_EVERY = 60
STOP_GRACE_SECONDS = 5.0
# Generous on a loaded 2-core machine; the whole start usually takes a few seconds.
START_TIMEOUT_SECONDS = 60.0

_NO_PROXY = ",".join(
    dict.fromkeys(
        [HOST, "localhost", *(os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or "").split(",")]
    )
).strip(",")
# A developer's HTTP proxy must not see (or break) traffic between the stack's own parts.
_LOCAL_ENV = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "NO_PROXY": _NO_PROXY,
    "no_proxy": _NO_PROXY,
}

EXIT_STOPPED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class StackError(Exception):
    """The stack cannot start or keep running; the message tells the developer what to do."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _StopRequested(BaseException):
    """SIGINT/SIGTERM/SIGHUP arrived: unwind whatever we were doing and stop the children."""


# ---------------------------------------------------------------------------- ports


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether something could listen on host:port now (a port in TIME_WAIT counts as free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # The servers set SO_REUSEADDR too: connections of a previous run must not block a restart.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_ports(count: int, host: str = HOST) -> list[int]:
    """`count` distinct ports that are free now (all held open while choosing, so none repeats)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(sock.getsockname()[1])
        return ports


def resolve_ports(flags: dict[str, int | None], env: dict[str, str]) -> dict[str, int]:
    """Flag, else environment variable, else default; 0 means any free port."""
    chosen: dict[str, int] = {}
    for name, default in DEFAULT_PORTS.items():
        value = flags.get(name)
        if value is None:
            raw = env.get(PORT_ENV[name], "")
            try:
                value = int(raw) if raw else default
            except ValueError:
                raise StackError(f"{PORT_ENV[name]}={raw!r} is not a port number", EXIT_USAGE) from None
        if not 0 <= value <= 65535:
            raise StackError(f"port {value} for {PORT_LABEL[name]} is out of range", EXIT_USAGE)
        chosen[name] = value
    wanted = [name for name, port in chosen.items() if port == 0]
    for name, port in zip(wanted, free_ports(len(wanted)), strict=True):
        chosen[name] = port
    return chosen


def check_ports(ports: dict[str, int]) -> None:
    if len(set(ports.values())) != len(ports):
        raise StackError(f"two parts of the stack were given the same port: {ports}", EXIT_USAGE)
    for name, port in ports.items():
        if not port_is_free(port):
            raise StackError(
                f"port {port} on {HOST} is already in use, and {PORT_LABEL[name]} needs it.\n"
                f"Stop what listens there (is another `make run` still running?) or pick another port: "
                f"{PORT_ENV[name]}=<port> make run",
                EXIT_USAGE,
            )


# ---------------------------------------------------------------------------- children


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _prepare_child() -> None:
    """In the child, before exec: take signals again, and get SIGTERM if the orchestrator dies
    without cleaning up (Linux)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM))


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """Hold Ctrl-C back while a child is being started, so that none is started and then forgotten."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None


@dataclass
class Stack:
    state_dir: Path
    ports: dict[str, int]
    export_every: int = DEFAULT_EXPORT_EVERY
    # the export's stream trigger beside the sweeper (off: only the sweeper sends, every export_every)
    export_trigger: bool = True
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    children: list[Child] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    # paths -------------------------------------------------------------------------
    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def sidep_dir(self) -> Path:
        return self.state_dir / "sidep"

    @property
    def psc_dir(self) -> Path:
        return self.state_dir / "psc"

    @property
    def psc_url(self) -> str:
        return f"http://{HOST}:{self.ports['psc']}"

    @property
    def stack_file(self) -> Path:
        return self.state_dir / "stack.json"

    @property
    def aws_url(self) -> str:
        return f"http://{HOST}:{self.ports['aws']}"

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.ports['api']}"

    @property
    def sidep_url(self) -> str:
        return f"https://{HOST}:{self.ports['sidep']}"

    def say(self, message: str) -> None:
        print(message, file=self.out, flush=True)

    # lifecycle -----------------------------------------------------------------------
    def prepare_state_dir(self) -> None:
        """Forget the previous run (moto forgot it too); only paths we own are removed."""
        self.stack_file.unlink(missing_ok=True)
        (self.state_dir / "audit-stream.json").unlink(missing_ok=True)  # moto's stream is new too
        (self.state_dir / REVIEW_STATE_FILE).unlink(missing_ok=True)  # the review's position
        for directory in (self.logs_dir, self.sidep_dir, self.psc_dir):
            if directory.is_symlink() or directory.is_file():
                directory.unlink()
            elif directory.exists():
                shutil.rmtree(directory)  # does not follow symlinks out of the state dir
        self.logs_dir.mkdir(parents=True)

    def base_env(self) -> dict[str, str]:
        """The children's environment: fake credentials only, so nothing can reach real AWS."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
        env.update(FAKE_CREDENTIALS)
        env.update(_LOCAL_ENV)
        env["PYTHONUNBUFFERED"] = "1"  # logs as they happen
        return env

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        log_path = self.logs_dir / f"{name}.log"
        with _signals_blocked(), log_path.open("ab") as log:
            process = subprocess.Popen(
                argv,
                cwd=PROJECT_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_prepare_child,  # the orchestrator has no threads, so this is safe
            )
            child = Child(name, process, log_path)
            self.children.append(child)
        return child

    def wait_for(self, child: Child, what: str, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not ready():
            if not child.running():
                raise StackError(
                    f"{child.name} exited (code {child.process.returncode}) before {what}; "
                    f"read {child.log_path}"
                )
            if time.monotonic() > deadline:
                raise StackError(
                    f"{child.name}: no {what} after {START_TIMEOUT_SECONDS:.0f}s; read {child.log_path}"
                )
            time.sleep(0.1)

    def start(self) -> dict[str, Any]:
        started = time.monotonic()
        self.prepare_state_dir()
        base = self.base_env()
        os.environ.update({k: base[k] for k in (*FAKE_CREDENTIALS, *_LOCAL_ENV)})
        os.environ.pop("AWS_PROFILE", None)
        certs = self.sidep_dir / "certs"
        sidep_env = {"SIDEP_URL": self.sidep_url}

        self.say(f"starting moto on {self.aws_url} ...")
        aws = self.spawn(
            "aws",
            [sys.executable, "-m", "devtools.moto_atomic", "-H", HOST, "-p", str(self.ports["aws"])],
            {**base, "MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP": "true"},
        )
        # The receiver needs nothing from AWS: it makes its certificates while we provision.
        sidep: Child | None = None
        if self.module_exists("devtools.fake_sidep", "sidep"):
            self.say(f"starting the fake SI-DEP receiver on {self.sidep_url} ...")
            sidep = self.spawn(
                "sidep",
                [
                    sys.executable,
                    "-m",
                    "devtools.fake_sidep",
                    "--host",
                    HOST,
                    "--port",
                    str(self.ports["sidep"]),
                    "--state-dir",
                    str(self.sidep_dir),
                ],
                {**base, **sidep_env},
            )
        # The fake PSC needs nothing from AWS either: its client secret goes to Secrets Manager below.
        self.psc_dir.mkdir(parents=True)
        psc_secret = secrets.token_urlsafe(24)
        secret_file = self.psc_dir / "client_secret"
        secret_file.write_text(psc_secret)
        secret_file.chmod(0o600)
        from devtools.seed import write_psc_directory

        write_psc_directory(self.psc_dir / "directory.json")
        self.say(f"starting the fake Pro Santé Connect on {self.psc_url} ...")
        psc = self.spawn(
            "psc",
            [
                sys.executable,
                "-m",
                "devtools.fake_psc",
                "--host",
                HOST,
                "--port",
                str(self.ports["psc"]),
                "--state-dir",
                str(self.psc_dir),
                "--client-id",
                PSC_CLIENT_ID,
            ],
            base,
        )
        self.wait_for(aws, "answer on " + self.aws_url, lambda: _http_status(f"{self.aws_url}/moto-api/") > 0)

        self.say("provisioning keys, tables and the user pool, seeding pharmacies and users ...")
        app_env, users, psc_users = self.provision_and_seed(psc_secret)
        app_env.update(sidep_env)
        app_env["PSC_DISCOVERY_URL"] = f"{self.psc_url}{PSC_DISCOVERY_PATH}"
        app_env["PSC_DIRECTORY_URL"] = f"{self.psc_url}{PSC_DIRECTORY_PATH}"
        self.wait_for(psc, "ready file", (self.psc_dir / "ready").exists)
        if sidep is not None:
            self.wait_for(sidep, "ready file", (self.sidep_dir / "ready").exists)
            # The export reads its certificate from Secrets Manager, as in Lambda: the receiver's go there.
            app_env.update(self.install_sidep_certificate(certs))
        child_env = {**base, **app_env}

        if self.module_exists("operations.export", "export"):
            self.say(f"starting the SI-DEP export, every {self.export_every}s ...")
            self.spawn(
                "export",
                [
                    sys.executable,
                    "-m",
                    "operations.export",
                    "loop",
                    "--every",
                    str(self.export_every),
                    "--last-run-file",
                    str(last_export_run_file(self.state_dir)),
                    *(["--trigger"] if self.export_trigger else []),
                ],
                child_env,
            )

        self.say("starting the audit checkpoints, the WORM copy and the review (the audit stream's readers)")
        self.spawn(
            "audit",
            [
                sys.executable,
                "-m",
                "devtools.audit_jobs",
                "loop",
                "--checkpoint-every",
                str(self.checkpoint_every),
                "--state-file",
                str(self.state_dir / "audit-stream.json"),
            ],
            child_env,
        )

        self.say("starting the uploads' processing (the imports queue's consumer) ...")
        self.spawn("imports", [sys.executable, "-m", "devtools.imports_worker", "loop"], child_env)

        self.say(f"starting the API (chalice local) on {self.api_url} ...")
        api = self.spawn(
            "api",
            # chalice local's server, answering unknown routes and methods as the deployed gateway
            # does and logging JSON lines only (devtools/local_api.py). No reloader: restart
            # `make run` after changing code.
            [sys.executable, "-m", "devtools.local_api", "--host", HOST, "--port", str(self.ports["api"])],
            child_env,
        )
        self.wait_for(api, "200 from /v1/health", lambda: _http_status(f"{self.api_url}/v1/health") == 200)

        settings = load_settings(app_env)
        self.info = {
            "api_url": self.api_url,
            "aws_endpoint_url": self.aws_url,
            "region": REGION,
            "user_pool_id": app_env["USER_POOL_ID"],
            "client_id": app_env["APP_CLIENT_IDS"].split(",")[0],
            "sidep_url": self.sidep_url,
            "users": users,
            "psc_users": psc_users,
            "psc_url": self.psc_url,
            "psc_directory": str(self.psc_dir / "directory.json"),
            # Beyond the contract: what tests and tools need to find and check the stack.
            "state_dir": str(self.state_dir),
            "pid": os.getpid(),
            "processes": {child.name: child.pid for child in self.children},
            "logs": {child.name: str(child.log_path) for child in self.children},
            "sidep_inbox": str(self.sidep_dir / "inbox"),
            "sidep_ledger": str(self.sidep_dir / "ledger.json"),
            "sidep_certs": str(certs),  # the fake receiver's; the export reads its copy in Secrets Manager
            "env": app_env,
            # What the operator commands read (operations/target.py reads `env`; these are for people).
            "tables": {name: getattr(settings, name) for name in TABLE_SETTINGS.values()},
            "keys": {name: app_env[name] for name in CONTAINER_SETTINGS},
            "export_last_run": str(last_export_run_file(self.state_dir)),
            "warnings": self.warnings,
            "started_in_seconds": round(time.monotonic() - started, 1),
        }
        _write_json_atomically(self.stack_file, self.info)
        return self.info

    def provision_and_seed(
        self, psc_client_secret: str
    ) -> tuple[dict[str, str], list[dict[str, Any]], list[dict[str, Any]]]:
        from devtools.provision import provision
        from devtools.seed import seed, seed_psc_members

        session = boto3.Session(region_name=REGION)
        env = provision(session, self.aws_url, psc_client_secret=psc_client_secret)
        users = seed(env, session)
        return env, users, seed_psc_members(env)

    def install_sidep_certificate(self, certs: Path) -> dict[str, str]:
        from devtools.provision import put_sidep_certificate

        client = boto3.Session(region_name=REGION).client("secretsmanager", endpoint_url=self.aws_url)
        return put_sidep_certificate(client, certs / "ca.pem", certs / "client.pem", certs / "client-key.pem")

    def module_exists(self, module: str, name: str) -> bool:
        if importlib.util.find_spec(module) is not None:
            return True
        warning = f"WARNING: {module} is missing: the stack runs without its {name} process"
        self.warnings.append(warning)
        (self.logs_dir / f"{name}.log").write_text(warning + "\n")
        self.say(warning)
        return False

    def supervise(self) -> None:
        """Return only by exception: a stop request, or a child that died."""
        while True:
            for child in self.children:
                if not child.running():
                    raise StackError(
                        f"{child.name} stopped unexpectedly (exit code {child.process.returncode}); "
                        f"read {child.log_path}"
                    )
            time.sleep(0.5)

    def stop(self) -> None:
        """SIGTERM every child's process group, SIGKILL what is left after the grace period."""
        self.stack_file.unlink(missing_ok=True)
        for child in reversed(self.children):
            _signal_group(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in self.children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        for child in self.children:
            # Also reaches grandchildren whose leader already exited.
            _signal_group(child.pid, signal.SIGKILL)
            child.process.wait()

    def ready_message(self) -> str:
        login_cmd = ".venv/bin/python -m devtools.login"
        if self.stack_file.resolve() != (DEFAULT_STATE_DIR / "stack.json").resolve():
            login_cmd += f" --stack {self.stack_file}"
        lines = [
            "",
            f"depistage local stack ready in {self.info['started_in_seconds']}s: {self.stack_file}",
            f"  API     {self.api_url}",
            f"  AWS     {self.aws_url}   (moto; TOTP checked)",
            f"  SI-DEP  {self.sidep_url}  (fake; inbox {self.sidep_dir / 'inbox'})",
            f"  PSC     {self.psc_url}   (fake Pro Santé Connect; {self.psc_dir / 'directory.json'})",
            f"  logs    {self.logs_dir}/",
            "  users   (passwords and TOTP secrets are in stack.json)",
        ]
        lines += [
            f"          {u['username']:<14} {u['role']:<15} {u['finess'] or ''}" for u in self.info["users"]
        ]
        lines.append("  PSC     (e-CPS logins through the fake Pro Santé Connect)")
        lines += [
            f"          {u['national_id']:<14} {u['role']:<15} {u['finess']}  {u['behaviour']}"
            for u in self.info["psc_users"]
        ]
        lines += [
            "Log in (password + TOTP, as the app does) and call the API:",
            f"  TOKEN=$({login_cmd} pharmacist-a)",
            f"  TOKEN=$({login_cmd} --psc {self.info['psc_users'][0]['national_id']})   # e-CPS, via PSC",
            f'  curl -H "Authorization: Bearer $TOKEN" "{self.api_url}/v1/tests?date=$(date +%F)"',
            *self.warnings,
            "Ctrl-C stops everything.",
        ]
        return "\n".join(lines)


# ---------------------------------------------------------------------------- helpers


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _http_status(url: str) -> int:
    """The HTTP status of a GET (0 when nothing answers yet)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    try:
        with opener.open(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0


def _write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    # 0600: the file holds the local users' passwords and TOTP secrets.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


@contextlib.contextmanager
def _state_lock(state_dir: Path) -> Iterator[None]:
    """One stack per state dir: a second one would wipe the first one's logs and certificates."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / "stack.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise StackError(
                f"another stack is already running with state dir {state_dir} "
                f"(see {state_dir / 'stack.json'}); stop it first, or use --state-dir",
                EXIT_USAGE,
            ) from None
        yield


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _StopRequested(signal.Signals(signum).name)


# ---------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.stack", description="Run the local stack until Ctrl-C."
    )
    parser.add_argument(
        "--state-dir",
        default=str(DEFAULT_STATE_DIR),
        help="where stack.json, logs and SI-DEP state go (default: the project's .local)",
    )
    for name in DEFAULT_PORTS:
        parser.add_argument(
            f"--{name}-port",
            type=int,
            default=None,
            help=f"port of {PORT_LABEL[name]} "
            f"(default: ${PORT_ENV[name]} or {DEFAULT_PORTS[name]}; 0: any free port)",
        )
    parser.add_argument(
        "--export-every", type=int, default=DEFAULT_EXPORT_EVERY, help="seconds between SI-DEP exports"
    )
    parser.add_argument(
        "--no-export-trigger",
        dest="export_trigger",
        action="store_false",
        help="no stream trigger: only the periodic export sends (make rehearse's own export must)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise_stop)
    state_dir = Path(args.state_dir).resolve()
    stack: Stack | None = None
    try:
        ports = resolve_ports(
            {name: getattr(args, f"{name}_port") for name in DEFAULT_PORTS}, dict(os.environ)
        )
        with _state_lock(state_dir):
            check_ports(ports)
            stack = Stack(state_dir, ports, args.export_every, export_trigger=args.export_trigger)
            try:
                stack.start()
                stack.say(stack.ready_message())
                stack.supervise()
            finally:
                # A second Ctrl-C during shutdown must not leave children behind.
                signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
                stack.say("stopping the local stack ...")
                stack.stop()
    except _StopRequested:
        if stack is not None:
            stack.say("stopped.")
        return EXIT_STOPPED
    except StackError as exc:
        print(f"make run: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    return EXIT_FAILED  # supervise() only returns by exception


if __name__ == "__main__":
    sys.exit(main())
