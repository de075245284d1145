"""The local stack's API: `chalice local`'s server, answering as the deployed gateway does.

    python -m devtools.local_api --host 127.0.0.1 --port 8000 [--stage local]

`chalice local` answers an unknown route with its own 403 that quotes the whole Authorization
header, an unknown method with Chalice's 405, TRACE with a 501 page, and logs each request as a
plain access line. API Gateway, as deployed (infra/template/api.py), answers any route or method
the API does not declare with its DEFAULT_4XX response: a fixed problem+json 404
(chalicelib/api/gateway.py), before any authorization. Here the same, and every log line is JSON
(the method, the declared route, never the path's values nor the query, the status), as the
gateway's access log.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from http.server import HTTPServer
from pathlib import Path
from typing import Any

from chalice.app import Chalice
from chalice.cli.factory import CLIFactory
from chalice.config import Config
from chalice.deploy.validate import validate_routes
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    LocalChalice,
    LocalDevServer,
    LocalGateway,
    LocalGatewayException,
    RouteMatcher,
)

from chalicelib.api.gateway import GATEWAY_HEADERS, gateway_problem

PROJECT_DIR = Path(__file__).resolve().parent.parent
UNKNOWN_ROUTE = "(unknown)"


class GatewayNotFound(LocalGatewayException):
    """API Gateway's DEFAULT_4XX answer to a route or method the API does not declare."""

    CODE, _BODY = gateway_problem("DEFAULT_4XX")

    def __init__(self) -> None:
        super().__init__(dict(GATEWAY_HEADERS), json.dumps(self._BODY).encode())


def declared_route(app: Chalice, matcher: RouteMatcher, method: str, path: str) -> str | None:
    """The declared route a request goes to (its path template), None if the API has none: an
    OPTIONS is declared where a view of the path enables CORS (API Gateway then answers it)."""
    try:
        route = str(matcher.match_route(path).route)
    except ValueError:
        return None
    views = app.routes[route]
    if method in views or (method == "OPTIONS" and any(view.cors for view in views.values())):
        return route
    return None


class DeployedLikeGateway(LocalGateway):
    def __init__(self, app_object: Chalice, config: Config) -> None:
        super().__init__(app_object, config)
        self._matcher = RouteMatcher(list(app_object.routes))

    def route_of(self, method: str, path: str) -> str | None:
        return declared_route(self._app_object, self._matcher, method, path)

    def handle_request(
        self, method: str, path: str, headers: dict[str, Any], body: bytes | None
    ) -> dict[str, Any]:
        if self.route_of(method, path) is None:
            raise GatewayNotFound
        return super().handle_request(method, path, headers, body)


class DeployedLikeHandler(ChaliceRequestHandler):
    def __init__(
        self, request: Any, client_address: Any, server: HTTPServer, app_object: Chalice, config: Config
    ) -> None:
        self.gateway = self.local_gateway = DeployedLikeGateway(app_object, config)
        self._started = time.monotonic()
        # ChaliceRequestHandler's own __init__ would build chalice's gateway: skip to the base's.
        super(ChaliceRequestHandler, self).__init__(request, client_address, server)

    def __getattr__(self, name: str) -> Any:
        # Every method, TRACE and made-up ones included, goes to the gateway (which answers 404),
        # never to http.server's 501 page.
        if name.startswith("do_"):
            return self._generic_handle
        raise AttributeError(name)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        command = getattr(self, "command", "") or ""
        route = self.gateway.route_of(command, getattr(self, "path", "") or "")
        log_json(
            "access",
            httpMethod=command,
            resourcePath=route or UNKNOWN_ROUTE,
            status=int(code) if str(code).isdigit() else str(code),
            latencyMs=round((time.monotonic() - self._started) * 1000, 1),
        )

    def log_message(self, format: str, *args: Any) -> None:
        # http.server's other messages (a malformed request line) quote the request: never logged.
        log_json("request refused by the HTTP server", level="WARNING")


def log_json(message: str, level: str = "INFO", **fields: Any) -> None:
    line = {
        "level": level,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "message": message,
    }
    sys.stdout.write(json.dumps({**line, **fields}) + "\n")
    sys.stdout.flush()


class _JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"level": record.levelname, "logger": record.name, "message": record.getMessage()})


def _log_request_error(request: Any, client_address: Any) -> None:
    """socketserver prints a handler's exception (a client that hung up mid-answer) between lines
    of dashes, its traceback quoting the request: one JSON line naming the exception's type instead."""
    log_json("request failed in the HTTP server", level="WARNING", error=type(sys.exc_info()[1]).__name__)


def serve(host: str, port: int, stage: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_JsonLines())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    # As `chalice local` does: the CLI's mode, the project's directory, the stage's environment
    # variables set in this process, a request per thread.
    os.environ["AWS_CHALICE_CLI_MODE"] = "true"
    os.chdir(PROJECT_DIR)
    config = CLIFactory(str(PROJECT_DIR), environ=os.environ).create_config_obj(chalice_stage_name=stage)
    app = config.chalice_app
    validate_routes(app.routes)
    CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
    app.__class__ = CustomLocalChalice
    server = LocalDevServer(app, config, host, port, handler_cls=DeployedLikeHandler)
    server.server.handle_error = _log_request_error
    log_json("serving", url=f"http://{host}:{port}")
    server.server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.local_api", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stage", default="local")
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.stage)
    return 0


if __name__ == "__main__":
    sys.exit(main())
