"""A fake Pro Santé Connect for `make run` and the tests: discovery, JWKS, CIBA (poll mode), userinfo.

    python -m devtools.fake_psc --host 127.0.0.1 --port 8081 --state-dir .local/psc

Serves, over plain HTTP on loopback (the real PSC is HTTPS only):
- `GET /auth/realms/esante-wallet/.well-known/wallet-openid-configuration` (PSC's discovery path)
  and `/.well-known/openid-configuration`: issuer, jwks_uri, the backchannel authentication,
  token and userinfo endpoints, `backchannel_token_delivery_modes_supported: ["poll"]`;
- `GET …/certs`: the JWKS (one RSA key made at start);
- `POST …/ext/ciba/auth`: HTTP Basic client credentials, form `scope`, `login_hint` (a national
  identifier), `binding_message`, `acr_values`; answers `auth_req_id`, `expires_in`, `interval`,
  or `unknown_user_id` for an identifier the directory does not know;
- `POST …/token` with `grant_type=urn:openid:params:grant-type:ciba`: `authorization_pending`
  until the professional answers the push on their e-CPS, `slow_down` for a poll sooner than the
  interval, `access_denied` once they declined, `expired_token` after `expires_in`; then an ID
  token (RS256, `acr=eidas1`) and an access token, once;
- `GET …/userinfo` (Bearer): `SubjectNameID` and `SubjectRefPro` from the directory;
- `GET /fhir/v2/Practitioner?identifier=…` and `GET /fhir/v2/PractitionerRole?practitioner=…`
  (`ESANTE-API-KEY` header): the national directory (ANS Annuaire Santé FHIR API) in its shape,
  which our server reads when a pharmacy invites a professional (chalicelib/adapters/psc_directory.py).

The e-CPS app, for a developer or a test playing the professional (no client credentials: it is
their phone):
- `GET {ECPS}/pushes/<national_id>`: the pushes waiting on their e-CPS, each with the binding
  message it shows (also printed on stderr when it arrives);
- `POST {ECPS}/approve` with form `national_id` and `binding_message`: the professional approves
  the push that shows the code their app shows, and only that one (404 `no_matching_push`, nothing
  approved, when no push shows it). An identity marked `"declines": true` declines it instead.
A push nobody approves stays pending until it expires: the fake never approves on its own.

The directory is `<state-dir>/directory.json` (`{"identities": [...]}`), re-read on every request,
so that a test or a developer can change it while the stack runs (a pharmacist who left); each
identity is `{"national_id", "rpps", "given_name", "family_name", "professions": [{"code": "21",
"finess": ["750000010"]}], "declines": false, "faults": {...}}`. Faults, for the tests of what
our server must refuse: `"acr": "eidas2"`, `"aud": "someone-else"`, `"expired": true`, `"forge":
true` (the ID token signed with another key under the same kid), `"userinfo_sub": "…"`.

The Python API for tests is `FakePsc` (`serve()` starts it on a thread, on a free port; `approve()`
is the e-CPS's approval).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import functools
import hashlib
import json
import secrets
import signal
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

REALM = "/auth/realms/esante-wallet"
DISCOVERY_PATH = f"{REALM}/.well-known/wallet-openid-configuration"
CIBA_GRANT_TYPE = "urn:openid:params:grant-type:ciba"
KID = "fake-psc-1"
ECPS = f"{REALM}/fake-ecps"  # the professional's e-CPS app (not part of PSC's API)
NO_MATCHING_PUSH = "no push shows this code"
# The Annuaire Santé FHIR API's path (its base is https://gateway.api.esante.gouv.fr/fhir/v2) and the
# API key this fake accepts in `ESANTE-API-KEY` (devtools/provision.py stores it as the real one is).
DIRECTORY_PATH = "/fhir/v2"
DIRECTORY_API_KEY = "fake-annuaire-sante-api-key"  # pragma: allowlist secret


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


# The national directory's resources (FHIR, as the Annuaire Santé API gives them) -------------------
# the code system of professions (TRE_G15) on roles and qualifications
PROFESSION_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"


def _technical_id(prefix: str, value: str) -> str:
    # opaque, as the API's are: our server must follow references, not guess them
    return f"{prefix}-{hashlib.sha256(value.encode()).hexdigest()[:12]}"


def _operation_outcome(code: str) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code}]}


def _practitioner(identity: dict[str, Any]) -> dict[str, Any]:
    national_id = str(identity["national_id"]).upper()
    return {
        "resourceType": "Practitioner",
        "id": _technical_id("pp", national_id),
        "active": True,
        "identifier": [
            {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": national_id},
            {"system": "https://rpps.esante.gouv.fr", "value": str(identity.get("rpps", ""))},
        ],
        "qualification": [
            {"code": {"coding": [{"system": PROFESSION_SYSTEM, "code": str(p.get("code", ""))}]}}
            for p in identity.get("professions", [])
        ],
    }


def _roles_and_organizations(identity: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """One active PractitionerRole per profession and FINESS, each with its structure."""
    national_id = str(identity["national_id"]).upper()
    practitioner = _technical_id("pp", national_id)
    pairs = []
    for profession in identity.get("professions", []):
        for finess in profession.get("finess", []):
            role = {
                "resourceType": "PractitionerRole",
                "id": _technical_id("pr", f"{national_id}/{profession.get('code')}/{finess}"),
                "active": True,
                "practitioner": {"reference": f"Practitioner/{practitioner}"},
                "organization": {"reference": f"Organization/{_technical_id('org', finess)}"},
                "code": [
                    {"coding": [{"system": PROFESSION_SYSTEM, "code": str(profession.get("code", ""))}]}
                ],
            }
            organization = {
                "resourceType": "Organization",
                "id": _technical_id("org", finess),
                "identifier": [
                    {"system": "https://finess.esante.gouv.fr", "value": finess},
                    {"system": "urn:oid:1.2.250.1.71.4.2.2", "value": f"1{finess}"},
                ],
                "name": f"PHARMACIE {finess}",
            }
            pairs.append((role, organization))
    return pairs


@dataclass
class _Request:
    national_id: str
    binding_message: str
    created: float
    last_poll: float | None = None
    answer: str | None = None  # "approved" or "declined", on the e-CPS


@dataclass
class FakePsc:
    """The fake's state and behaviour; `handle()` answers one HTTP request."""

    client_id: str
    client_secret: str
    directory_file: Path | None = None
    identities: list[dict[str, Any]] = field(default_factory=list)  # used when there is no file
    interval_seconds: int = 1
    expires_in_seconds: int = 120
    clock: Callable[[], float] = time.time
    base_url: str = ""
    key: rsa.RSAPrivateKey = field(default_factory=_new_key)
    requests: dict[str, _Request] = field(default_factory=dict)
    access_tokens: dict[str, str] = field(default_factory=dict)
    # what the tests look at: every backchannel request's form
    seen: list[dict[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    # the directory ---------------------------------------------------------------------------
    def directory(self) -> dict[str, dict[str, Any]]:
        identities = self.identities
        if self.directory_file is not None and self.directory_file.exists():
            identities = json.loads(self.directory_file.read_text()).get("identities", [])
        return {str(i["national_id"]).upper(): i for i in identities}

    @property
    def issuer(self) -> str:
        return f"{self.base_url}{REALM}"

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/protocol/openid-connect/certs",
            "token_endpoint": f"{self.issuer}/protocol/openid-connect/token",
            "userinfo_endpoint": f"{self.issuer}/protocol/openid-connect/userinfo",
            "backchannel_authentication_endpoint": f"{self.issuer}/protocol/openid-connect/ext/ciba/auth",
            "backchannel_token_delivery_modes_supported": ["poll"],
            "grant_types_supported": ["authorization_code", CIBA_GRANT_TYPE],
            "id_token_signing_alg_values_supported": ["RS256"],
            "acr_values_supported": ["eidas1"],
        }

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": KID, "alg": "RS256", "use": "sig"})
        return {"keys": [jwk]}

    # HTTP ------------------------------------------------------------------------------------
    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
        routes: dict[tuple[str, str], Callable[[], tuple[int, dict[str, Any]]]] = {
            ("GET", DISCOVERY_PATH): lambda: (200, self.discovery()),
            ("GET", "/.well-known/openid-configuration"): lambda: (200, self.discovery()),
            ("GET", f"{REALM}/protocol/openid-connect/certs"): lambda: (200, self.jwks()),
            ("POST", f"{REALM}/protocol/openid-connect/ext/ciba/auth"): lambda: self._authorize(
                headers, form
            ),
            ("POST", f"{REALM}/protocol/openid-connect/token"): lambda: self._token(headers, form),
            ("GET", f"{REALM}/protocol/openid-connect/userinfo"): lambda: self._userinfo(headers),
            ("POST", f"{ECPS}/approve"): lambda: self._approve(form),
        }
        if method == "GET" and path.startswith(f"{DIRECTORY_PATH}/"):
            with self._lock:
                return self.directory_search(headers, path)
        path = path.split("?", 1)[0]
        route = routes.get((method, path))
        if route is None and method == "GET" and path.startswith(f"{ECPS}/pushes/"):
            national_id = urllib.parse.unquote(path.removeprefix(f"{ECPS}/pushes/"))
            route = functools.partial(self._pushes, national_id)
        if route is None:
            return 404, {"error": "not_found"}
        with self._lock:
            return route()

    def _client_ok(self, headers: dict[str, str]) -> bool:
        scheme, _, encoded = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return secrets.compare_digest(user, self.client_id) and secrets.compare_digest(
            password, self.client_secret
        )

    def _authorize(self, headers: dict[str, str], form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if not self._client_ok(headers):
            return 401, {"error": "invalid_client"}
        self.seen.append(dict(form))
        if "openid" not in form.get("scope", "").split() or not form.get("binding_message"):
            return 400, {"error": "invalid_request"}
        national_id = form.get("login_hint", "").upper()
        if national_id not in self.directory():
            return 400, {"error": "unknown_user_id"}
        auth_req_id = secrets.token_urlsafe(24)
        self.requests[auth_req_id] = _Request(national_id, form["binding_message"], self.clock())
        sys.stderr.write(
            f"fake-psc e-CPS push to {national_id}: approve only if your app shows "
            f"{form['binding_message']}\n"
        )
        return 200, {
            "auth_req_id": auth_req_id,
            "expires_in": self.expires_in_seconds,
            "interval": self.interval_seconds,
        }

    def _token(self, headers: dict[str, str], form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if not self._client_ok(headers):
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != CIBA_GRANT_TYPE:
            return 400, {"error": "unsupported_grant_type"}
        request = self.requests.get(form.get("auth_req_id", ""))
        if request is None:
            return 400, {"error": "invalid_grant"}
        now = self.clock()
        if now > request.created + self.expires_in_seconds:
            self.requests.pop(form["auth_req_id"], None)
            return 400, {"error": "expired_token"}
        if request.last_poll is not None and now - request.last_poll < self.interval_seconds:
            request.last_poll = now
            return 400, {"error": "slow_down"}
        request.last_poll = now
        if request.answer is None:
            return 400, {"error": "authorization_pending"}
        self.requests.pop(form["auth_req_id"], None)
        identity = self.directory().get(request.national_id, {})
        if request.answer == "declined":
            return 400, {"error": "access_denied"}
        access_token = secrets.token_urlsafe(24)
        self.access_tokens[access_token] = request.national_id
        return 200, {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 120,
            "id_token": self.id_token(request.national_id, identity.get("faults") or {}),
        }

    # the e-CPS ----------------------------------------------------------------------------------
    def _waiting(self, national_id: str) -> list[_Request]:
        now = self.clock()
        return [
            r
            for r in self.requests.values()
            if r.national_id == national_id.upper()
            and r.answer is None
            and now <= r.created + self.expires_in_seconds
        ]

    def pushes(self, national_id: str) -> list[str]:
        """The binding messages the professional's e-CPS shows (pushes waiting for an answer)."""
        with self._lock:
            return [r.binding_message for r in self._waiting(national_id)]

    def approve(self, national_id: str, binding_message: str) -> str:
        """The professional answers the push showing `binding_message`, the code their app shows:
        "approved" ("declined" for an identity that declines), or NO_MATCHING_PUSH (nothing
        approved: a push showing another code is never approved)."""
        with self._lock:
            return self._answer(national_id, binding_message)

    def _answer(self, national_id: str, binding_message: str) -> str:
        matching = [
            r
            for r in self._waiting(national_id)
            if secrets.compare_digest(r.binding_message.encode(), binding_message.encode())
        ]
        if not matching:
            return NO_MATCHING_PUSH
        declines = bool(self.directory().get(national_id.upper(), {}).get("declines"))
        for request in matching:
            request.answer = "declined" if declines else "approved"
        return "declined" if declines else "approved"

    def _pushes(self, national_id: str) -> tuple[int, dict[str, Any]]:
        return 200, {"pushes": [{"binding_message": r.binding_message} for r in self._waiting(national_id)]}

    def _approve(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        answer = self._answer(form.get("national_id", ""), form.get("binding_message", ""))
        if answer == NO_MATCHING_PUSH:
            return 404, {"error": "no_matching_push"}
        return 200, {"answer": answer}

    def subject(self, national_id: str) -> str:
        return f"f:fake-psc:{national_id}"

    def id_token(self, national_id: str, faults: dict[str, Any]) -> str:
        now = int(self.clock())
        claims = {
            "iss": self.issuer,
            "aud": faults.get("aud", self.client_id),
            "sub": self.subject(national_id),
            "acr": faults.get("acr", "eidas1"),
            "auth_time": now,
            "iat": now - 7200 if faults.get("expired") else now,
            "exp": now - 3600 if faults.get("expired") else now + 300,
            "preferred_username": national_id,
        }
        key = _new_key() if faults.get("forge") else self.key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID})

    def userinfo(self, national_id: str) -> dict[str, Any]:
        identity = self.directory().get(national_id, {})
        faults = identity.get("faults") or {}
        exercices = [
            {
                "codeProfession": str(profession.get("code", "")),
                "codeCategorieProfessionnelle": "C",
                "nomDexercice": identity.get("family_name", ""),
                "prenomDexercice": identity.get("given_name", ""),
                "activities": [
                    {
                        "codeModeExercice": "L",
                        "numeroFinessSite": finess,
                        "numeroFinessetablissementJuridique": "",
                        "ancienIdentifiantDeLaStructure": f"1{finess}",
                        "raisonSocialeSite": f"PHARMACIE {finess}",
                    }
                    for finess in profession.get("finess", [])
                ],
            }
            for profession in identity.get("professions", [])
        ]
        return {
            "sub": faults.get("userinfo_sub", self.subject(national_id)),
            "SubjectNameID": national_id,
            "preferred_username": national_id,
            "given_name": identity.get("given_name", ""),
            "family_name": identity.get("family_name", ""),
            "SubjectRefPro": {"codeCivilite": "", "exercices": exercices},
        }

    def _userinfo(self, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        national_id = self.access_tokens.get(token) if scheme.lower() == "bearer" else None
        if national_id is None:
            return 401, {"error": "invalid_token"}
        return 200, self.userinfo(national_id)

    # the national directory, read at invitation (chalicelib/adapters/psc_directory.py) ---------
    def directory_search(self, headers: dict[str, str], path: str) -> tuple[int, dict[str, Any]]:
        """The ANS Annuaire Santé FHIR API's two searches our server makes, in its shape
        (docs/sources.md), with the `ESANTE-API-KEY` header (401 otherwise):
        `GET /fhir/v2/Practitioner?identifier=<national id or RPPS>` (a searchset Bundle, empty if
        unknown) and `GET /fhir/v2/PractitionerRole?practitioner=<ids>[&_include=PractitionerRole:
        organization][&_count=n]` (one active role per profession and FINESS, profession coded in
        TRE_G15 on the role and the Practitioner's qualification, each structure an Organization
        with its FINESS and IDNST identifiers; pages of `_count`, linked by `next`)."""
        if not secrets.compare_digest(headers.get("esante-api-key", ""), DIRECTORY_API_KEY):
            return 401, _operation_outcome("login")
        route, _, query_string = path[len(DIRECTORY_PATH) :].partition("?")
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(query_string).items()}
        searches = {"/Practitioner": self._practitioner_search, "/PractitionerRole": self._role_search}
        search = searches.get(route)
        if search is None:
            return 404, _operation_outcome("not-found")
        return 200, search(path, query)

    def _practitioner_search(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        wanted = query.get("identifier", "").rpartition("|")[2].upper()
        found = [
            i
            for i in self.directory().values()
            if wanted in (str(i["national_id"]).upper(), str(i.get("rpps", "")))
        ]
        return self._bundle(path, [(_practitioner(i), "match") for i in found], [])

    def _role_search(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        wanted_ids = {v.rpartition("/")[2] for v in query.get("practitioner", "").split(",")}
        roles = [
            pair
            for identity in self.directory().values()
            if _technical_id("pp", str(identity["national_id"]).upper()) in wanted_ids
            for pair in _roles_and_organizations(identity)
        ]
        count = max(1, int(query.get("_count", "20") or 20))
        offset = int(query.get("_getpagesoffset", "0") or 0)
        page = roles[offset : offset + count]
        resources: list[tuple[dict[str, Any], str]] = [(role, "match") for role, _ in page]
        if query.get("_include") == "PractitionerRole:organization":
            included = {org["id"]: org for _, org in page}
            resources += [(org, "include") for org in included.values()]
        links = []
        if offset + count < len(roles):
            following = urllib.parse.urlencode({**query, "_getpagesoffset": str(offset + count)})
            links.append(
                {"relation": "next", "url": f"{self.base_url}{DIRECTORY_PATH}/PractitionerRole?{following}"}
            )
        return self._bundle(path, resources, links)

    def _bundle(
        self, path: str, resources: list[tuple[dict[str, Any], str]], links: list[dict[str, str]]
    ) -> dict[str, Any]:
        """A searchset Bundle of (resource, search mode) pairs, its `self` link first."""
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "link": [{"relation": "self", "url": f"{self.base_url}{path}"}, *links],
            "entry": [
                {
                    "fullUrl": f"{self.base_url}{DIRECTORY_PATH}/{r['resourceType']}/{r['id']}",
                    "resource": r,
                    "search": {"mode": mode},
                }
                for r, mode in resources
            ],
        }

    # serving ---------------------------------------------------------------------------------
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start on a thread; returns the base URL."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload = fake.handle(
                    method, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def log_message(self, format: str, *args: Any) -> None:
                status = args[1] if len(args) > 1 else ""
                sys.stderr.write(f"fake-psc {self.command} {self.path.split('?', 1)[0]} {status}\n")

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://{host}:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, name="fake-psc", daemon=True).start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def discovery_url(self) -> str:
        return f"{self.base_url}{DISCOVERY_PATH}"


@contextlib.contextmanager
def running(**kwargs: Any) -> Iterator[FakePsc]:
    fake = FakePsc(**kwargs)
    fake.serve()
    try:
        yield fake
    finally:
        fake.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fake Pro Santé Connect (CIBA poll mode)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--client-id", default="depistage-local")
    args = parser.parse_args(argv)
    state_dir = Path(args.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    secret_file = state_dir / "client_secret"
    fake = FakePsc(
        client_id=args.client_id,
        client_secret=secret_file.read_text().strip() if secret_file.exists() else secrets.token_urlsafe(24),
        directory_file=state_dir / "directory.json",
    )
    secret_file.write_text(fake.client_secret)
    secret_file.chmod(0o600)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    url = fake.serve(args.host, args.port)
    (state_dir / "ready").write_text(url)
    print(f"fake PSC on {url}", flush=True)
    stop.wait()
    fake.stop()
    (state_dir / "ready").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
