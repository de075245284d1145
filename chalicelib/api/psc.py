"""Pro Santé Connect login routes (no bearer token: this is how a PSC pharmacist gets one)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib import payloads
from chalicelib.api.context import json_body, meta
from chalicelib.api.lazy import lazy
from chalicelib.api.routing import Access, ApiBlueprint, Reply, Route
from chalicelib.bootstrap import get_container
from chalicelib.domain.commands import StartLogin
from chalicelib.payloads import parse_login_request

if TYPE_CHECKING:
    from chalicelib.services import psc_login
else:
    psc_login = lazy("chalicelib.services.psc_login")

blueprint = ApiBlueprint(__name__)

LOGINS = "/v1/psc/logins"
LOGIN_TOKEN = "/v1/psc/logins/{login_id}/token"
JWKS = "/v1/psc/jwks.json"
_ANONYMOUS = ("400", "413", "415", "503")


@blueprint.route(
    Route(
        "POST",
        LOGINS,
        "startPscLogin",
        "Start a Pro Santé Connect login (CIBA): PSC asks the e-CPS app to approve.",
        Reply(
            201,
            "Started: show the binding message, then poll the token route.",
            payloads.PSC_LOGIN,
            location=lambda started: f"{LOGINS}/{started.login_id}",
            headers=False,
        ),
        (*_ANONYMOUS, "429"),
        access=Access.ANONYMOUS,
        body=payloads.PSC_LOGIN_REQUEST,
        example={"national_id": "810000000001"},
        description="No bearer token. The server posts the backchannel authentication request to PSC with "
        "its own client credentials and the binding message; the app never talks to PSC. The professional "
        "approves only the e-CPS push that shows the same binding message. Every identifier gets the same "
        "201, invited or not (no push is sent for one that leads nowhere: its poll ends as a push not "
        "approved). At most a few starts per identifier and per source address per window: 429 slow_down, "
        "retry after Retry-After seconds.",
    )
)
def start_login() -> Any:
    request: Any = blueprint.current_request
    command = StartLogin(parse_login_request(json_body(request)))
    return psc_login.start_login(get_container().psc, meta(request), command)


@blueprint.route(
    Route(
        "POST",
        LOGIN_TOKEN,
        "pollPscLogin",
        "Poll a Pro Santé Connect login: 200 with an access token once approved.",
        Reply(200, "Approved and verified: our access token (15 minutes).", payloads.PSC_TOKEN),
        ("400", "403", "404", "410", "413", "415", "429", "503"),
        access=Access.ANONYMOUS,
        description="400 authorization_pending (poll again after Retry-After), 429 slow_down, 410 "
        "expired_token, 403 access_denied (not approved on the e-CPS, or no push was sent) or a refusal "
        "by the directory check (pharmacist, practising at the member's pharmacy), 404 an unknown or "
        "spent login. The access token is valid at the member's pharmacy only.",
    )
)
def poll_login(login_id: str) -> Any:
    request: Any = blueprint.current_request
    granted = psc_login.poll_login(get_container().psc, meta(request), login_id)
    return granted


@blueprint.route(
    Route(
        "GET",
        JWKS,
        "pscSessionJwks",
        "The JWKS of the tokens issued after a PSC login.",
        Reply(200, "The keys.", payloads.JWKS),
        ("503",),
        access=Access.ANONYMOUS,
    )
)
def jwks() -> Any:
    return get_container().session_keys.jwks()
