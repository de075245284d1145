"""Pro Santé Connect login through our server (CIBA, poll mode), against the fake PSC."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest

from chalicelib.domain.psc import NOT_APPROVED, psc_username
from tests.conftest import PHARMACY_A
from tests.psc import (
    DECLINES,
    DOCTOR,
    ELSEWHERE,
    FAULTY,
    INTERVAL,
    PHARMACIST_A,
    UNKNOWN_TO_PSC,
    PscWorld,
)


def problem(response: Any) -> dict[str, Any]:
    assert header(response, "content-type") == "application/problem+json"
    body: dict[str, Any] = json.loads(response.body)
    return body


def _links() -> dict[str, int]:
    """Links per audit chain."""
    from chalicelib.adapters.dynamodb.models import AuditEventModel

    chains: dict[str, int] = {}
    for event in AuditEventModel.scan():
        chains[event.chain] = chains.get(event.chain, 0) + 1
    return chains


def _reasons() -> list[str]:
    from chalicelib.adapters.dynamodb.models import AuditEventModel

    return [str((event.event or {}).get("reason", "")) for event in AuditEventModel.scan()]


def header(response: Any, name: str) -> str:
    return str({k.lower(): v for k, v in response.headers.items()}[name])


def text(response: Any) -> str:
    return str(response.body.decode())


def audit_of_a(psc: PscWorld) -> list[dict[str, object]]:
    response = psc.world.call("GET", "/v1/audit?limit=200", "admin-a")
    assert response.status_code == 200
    items: list[dict[str, object]] = json.loads(response.body)["items"]
    return items


def test_the_full_ciba_poll_flow_ends_with_an_access_token_the_api_accepts(psc: PscWorld) -> None:
    started = psc.start(PHARMACIST_A)
    assert started.status_code == 201, started.body
    body = json.loads(started.body)
    assert set(body) == {"login_id", "binding_message", "expires_in", "interval"}
    assert header(started, "location") == f"/v1/psc/logins/{body['login_id']}"
    # our server, not the app, talked to PSC: with its client credentials and the binding message
    sent = psc.fake.seen[-1]
    assert sent["login_hint"] == PHARMACIST_A and sent["acr_values"] == "eidas1"
    assert sent["binding_message"] == body["binding_message"] and "openid" in sent["scope"].split()
    assert body["login_id"] not in json.dumps(psc.fake.seen)  # the app's handle is ours alone

    psc.advance(INTERVAL)
    pending = psc.poll(body["login_id"])
    assert pending.status_code == 400 and problem(pending)["error"] == "authorization_pending"
    assert header(pending, "retry-after") == str(INTERVAL)

    # the e-CPS shows the push with the app's code; the pharmacist approves that push
    assert psc.fake.pushes(PHARMACIST_A) == [body["binding_message"]]
    assert psc.fake.approve(PHARMACIST_A, body["binding_message"]) == "approved"
    psc.advance(INTERVAL)
    done = psc.poll(body["login_id"])
    assert done.status_code == 200, done.body
    tokens = json.loads(done.body)
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 900

    listed = psc.call("GET", "/v1/tests?date=2026-11-29", tokens["access_token"])
    assert listed.status_code == 200, listed.body
    # single use: the handle is spent
    again = psc.poll(body["login_id"])
    assert again.status_code == 404 and problem(again)["error"] == "invalid_grant"
    actions = [(e["action"], e["outcome"], e["actor"]) for e in audit_of_a(psc)]
    username = psc_username(PHARMACIST_A)
    assert ("psc_login_start", "success", username) in actions
    assert ("psc_login", "success", username) in actions


def test_the_session_token_verifies_against_the_published_jwks(psc: PscWorld) -> None:
    token = psc.token(PHARMACIST_A)
    jwks = psc.world.call("GET", "/v1/psc/jwks.json", None)
    assert jwks.status_code == 200
    (key,) = json.loads(jwks.body)["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and "d" not in key
    assert jwt.get_unverified_header(token)["kid"] == key["kid"]
    claims = jwt.decode(token, jwt.PyJWK(key).key, algorithms=["RS256"])
    assert claims["username"] == psc_username(PHARMACIST_A) and claims["token_use"] == "access"
    assert claims["exp"] - claims["iat"] == 900 and claims["acr"] == "eidas1"
    assert claims["finess"] == PHARMACY_A  # the pharmacy PSC vouched for


def test_starting_a_login_for_a_known_rpps_gets_no_token_without_the_binding_code(psc: PscWorld) -> None:
    """The attack: RPPS numbers are public; start a login for one and hold the handle. The
    pharmacist, logging in at the same moment, approves the push that shows the code their own
    app shows: the attacker's push shows another code and is never approved."""
    attacker = json.loads(psc.world.call("POST", "/v1/psc/logins", None, {"rpps": PHARMACIST_A[1:]}).body)
    own = json.loads(psc.start(PHARMACIST_A).body)
    assert attacker["binding_message"] != own["binding_message"]
    assert sorted(psc.fake.pushes(PHARMACIST_A)) == sorted(
        [attacker["binding_message"], own["binding_message"]]
    )
    assert psc.fake.approve(PHARMACIST_A, own["binding_message"]) == "approved"
    for _ in range(120 // INTERVAL):
        psc.advance(INTERVAL)
        stolen = psc.poll(attacker["login_id"])
        assert stolen.status_code != 200 and "access_token" not in text(stolen)
    assert problem(stolen)["error"] == "expired_token"
    # a code no push shows approves nothing
    another = json.loads(psc.start(PHARMACIST_A).body)
    assert psc.fake.approve(PHARMACIST_A, "ZZZZZZ") == "no push shows this code"
    psc.advance(INTERVAL)
    assert problem(psc.poll(another["login_id"]))["error"] == "authorization_pending"


def test_polling_before_the_interval_is_slow_down_and_the_interval_grows(psc: PscWorld) -> None:
    login_id = json.loads(psc.start(PHARMACIST_A).body)["login_id"]
    early = psc.poll(login_id)
    assert early.status_code == 429 and problem(early)["error"] == "slow_down"
    assert header(early, "retry-after") == str(INTERVAL + 5)
    psc.advance(INTERVAL + 1)
    still_early = psc.poll(login_id)  # the interval is now INTERVAL + 5
    assert still_early.status_code == 429
    # early polls are the caller's, not a member's act: nothing on the pharmacy's chain
    assert [e for e in audit_of_a(psc) if e["action"] == "psc_login_poll"] == []


def test_one_start_and_twenty_early_polls_add_one_link_to_the_pharmacy_chain(psc: PscWorld) -> None:
    """The reproduction: 1 start + 20 polls appended 21 links to the pharmacy's chain."""
    login_id = json.loads(psc.start(PHARMACIST_A).body)["login_id"]
    for _ in range(20):
        assert psc.poll(login_id).status_code == 429
    of_the_login = [e["action"] for e in audit_of_a(psc) if str(e["action"]).startswith("psc_")]
    assert of_the_login == ["psc_login_start"]  # the start, which sent a push to their e-CPS


def test_a_pharmacist_practising_elsewhere_is_refused_with_a_clear_reason(psc: PscWorld) -> None:
    refused = psc.login(ELSEWHERE)
    assert refused.status_code == 403
    assert "at this pharmacy" in str(problem(refused)["detail"])
    assert ELSEWHERE not in text(refused) and "PHARMACIE" not in text(refused)
    events = [e for e in audit_of_a(psc) if e["action"] == "psc_login"]
    assert [(e["outcome"], e["reason"]) for e in events] == [
        ("denied", "no activity at this pharmacy in the directory")
    ]


def test_a_professional_who_is_not_a_pharmacist_is_refused(psc: PscWorld) -> None:
    refused = psc.login(DOCTOR)
    assert refused.status_code == 403
    assert "pharmacist" in str(problem(refused)["detail"])
    assert [e["reason"] for e in audit_of_a(psc) if e["action"] == "psc_login"] == [
        "not a pharmacist in the directory"
    ]


@pytest.mark.parametrize(
    ("faults", "reason"),
    [
        ({"acr": "eidas2"}, "id token acr"),
        ({"aud": "another-service"}, "id token audience"),
        ({"expired": True}, "id token expired"),
        ({"forge": True}, "id token signature"),
        ({"userinfo_sub": "f:fake-psc:someone-else"}, "userinfo subject"),
    ],
)
def test_an_id_token_or_userinfo_that_fails_a_check_is_refused(
    psc: PscWorld, faults: dict[str, object], reason: str
) -> None:
    psc.set_identity(FAULTY, faults=faults)
    refused = psc.login(FAULTY)
    assert refused.status_code == 403, refused.body
    assert "access_token" not in text(refused)
    assert [e["reason"] for e in audit_of_a(psc) if e["action"] == "psc_login"] == [reason]


def test_a_declined_login_is_access_denied_and_journaled(psc: PscWorld) -> None:
    refused = psc.login(DECLINES)
    assert refused.status_code == 403 and problem(refused)["error"] == "access_denied"
    assert problem(refused)["detail"] == NOT_APPROVED  # the answer of an identifier that leads nowhere
    assert [e["reason"] for e in audit_of_a(psc) if e["action"] == "psc_login"] == ["access_denied"]


def test_a_login_not_approved_in_time_expires(psc: PscWorld) -> None:
    login_id = json.loads(psc.start(PHARMACIST_A).body)["login_id"]
    psc.advance(121)  # the pharmacist never answers
    expired = psc.poll(login_id)
    assert expired.status_code == 410 and problem(expired)["error"] == "expired_token"


def _shape(response: Any) -> tuple[int, list[str], list[str], dict[str, object]]:
    body = json.loads(response.body)
    headers = sorted(k.lower() for k in response.headers if k.lower() not in {"x-request-id"})
    fixed = {k: v for k, v in body.items() if k not in {"login_id", "binding_message"}}
    return response.status_code, headers, sorted(body), fixed


def test_a_start_answers_the_same_for_an_unknown_a_not_invited_and_an_invited_identifier(
    psc: PscWorld,
) -> None:
    """The reproduction: 201 for an invited id, 404 otherwise, and a 404 detail telling "not
    invited" from "unknown to PSC"."""
    invited, not_invited, unknown = (psc.start(i) for i in (PHARMACIST_A, "810000000099", UNKNOWN_TO_PSC))
    assert _shape(invited) == _shape(not_invited) == _shape(unknown)
    assert invited.status_code == 201
    assert [s["login_hint"] for s in psc.fake.seen] == [PHARMACIST_A, UNKNOWN_TO_PSC]  # no push otherwise


def test_an_identifier_that_leads_nowhere_answers_at_the_poll_after_a_human_delay(psc: PscWorld) -> None:
    login_id = json.loads(psc.start("810000000099").body)["login_id"]
    psc.advance(INTERVAL)
    assert problem(psc.poll(login_id))["error"] == "authorization_pending"  # as a live push
    for _ in range(130 // INTERVAL):
        psc.advance(INTERVAL)
        answer = psc.poll(login_id)
        if answer.status_code != 400:
            break
    # declined as a pharmacist would decline, or left to expire: what a live push may answer too
    assert (answer.status_code, problem(answer)["error"]) in {(403, "access_denied"), (410, "expired_token")}
    assert "810000000099" not in text(answer)
    if answer.status_code == 403:
        assert problem(answer)["detail"] == NOT_APPROVED


def test_starts_of_identifiers_that_lead_nowhere_are_aggregated_without_the_identifier(
    psc: PscWorld,
) -> None:
    """The reproduction: each start with an id nobody invited appended a year-long platform-chain
    event with the id in `reason`. 100 starts (20 within the limit per source) add at most one
    event per window to any chain."""
    before = _links()
    windows = set()
    for i in range(100):
        windows.add(int(psc.clock.now().timestamp()) // 300)
        response = psc.start(f"8300000{i:05d}")
        assert response.status_code in {201, 429}
        psc.advance(7)
    added = {chain: n - before.get(chain, 0) for chain, n in _links().items() if n != before.get(chain, 0)}
    assert added and max(added.values()) <= len(windows), (added, len(windows))
    assert all("8300000" not in reason for reason in _reasons())


def test_too_many_starts_for_one_identifier_is_429_with_retry_after(psc: PscWorld) -> None:
    for _ in range(3):
        assert psc.start(PHARMACIST_A).status_code == 201
    refused = psc.start(PHARMACIST_A)
    assert refused.status_code == 429 and problem(refused)["error"] == "slow_down"
    assert 0 < int(header(refused, "retry-after")) <= 300
    assert len(psc.fake.seen) == 3  # three pushes at most per window
    psc.advance(int(header(refused, "retry-after")))
    assert psc.start(PHARMACIST_A).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"national_id": "81-bad value"}, "national_id"),
        ({"rpps": "12"}, "rpps"),
        ({}, "national_id"),
        ({"national_id": PHARMACIST_A, "password": "x"}, "password"),
    ],
)
def test_a_bad_login_request_is_400_naming_the_field_without_its_value(
    psc: PscWorld, body: dict[str, str], field: str
) -> None:
    response = psc.world.call("POST", "/v1/psc/logins", None, body)
    assert response.status_code == 400
    assert field in [e["field"] for e in problem(response)["errors"]]
    assert "bad value" not in text(response)


def test_login_bodies_must_be_json(psc: PscWorld) -> None:
    response = psc.world.client.http.post(
        "/v1/psc/logins", headers={"Content-Type": "text/plain"}, body=f"national_id={PHARMACIST_A}"
    )
    assert response.status_code == 415


def test_a_login_by_rpps_number_finds_the_same_member(psc: PscWorld) -> None:
    started = psc.world.call("POST", "/v1/psc/logins", None, {"rpps": PHARMACIST_A[1:]})
    assert started.status_code == 201, started.body
    assert psc.fake.seen[-1]["login_hint"] == PHARMACIST_A


def test_a_directory_change_takes_effect_at_the_next_login(psc: PscWorld) -> None:
    first = psc.token(PHARMACIST_A)
    # the pharmacist left pharmacy A: the national directory no longer lists the activity
    psc.set_identity(PHARMACIST_A, professions=[{"code": "21", "finess": ["130000029"]}])
    refused = psc.login(PHARMACIST_A)
    assert refused.status_code == 403
    # the token already held lives out its 15 minutes (as a Cognito token would); a revocation is immediate
    assert psc.call("GET", "/v1/tests?date=2026-11-29", first).status_code == 200
    revoked = psc.world.call(
        "DELETE", f"/v1/admin/pharmacies/{PHARMACY_A}/members/{psc_username(PHARMACIST_A)}", "admin-a"
    )
    assert revoked.status_code == 204
    assert psc.call("GET", "/v1/tests?date=2026-11-29", first).status_code == 403


def test_a_membership_revoked_during_the_login_is_refused(psc: PscWorld) -> None:
    login_id = json.loads(psc.start(PHARMACIST_A).body)["login_id"]
    psc.world.call(
        "DELETE", f"/v1/admin/pharmacies/{PHARMACY_A}/members/{psc_username(PHARMACIST_A)}", "admin-a"
    )
    psc.fake.approve(PHARMACIST_A, psc.fake.pushes(PHARMACIST_A)[0])
    psc.advance(INTERVAL)
    refused = psc.poll(login_id)
    assert refused.status_code == 403
    assert [e["reason"] for e in audit_of_a(psc) if e["action"] == "psc_login"] == ["membership revoked"]


def test_psc_secret_comes_from_secrets_manager_and_goes_as_http_basic(psc: PscWorld) -> None:
    psc.fake.client_secret = "rotated-at-psc-but-not-here"  # pragma: allowlist secret
    response = psc.start(PHARMACIST_A)
    assert response.status_code == 503  # PSC refuses our credentials: a configuration fault, not the user's
    assert "rotated" not in text(response)


def test_basic_credentials_are_sent_to_psc(psc: PscWorld) -> None:
    expected = base64.b64encode(f"{psc.fake.client_id}:{psc.fake.client_secret}".encode()).decode()
    assert psc.fake._client_ok({"authorization": f"Basic {expected}"})
    assert psc.start(PHARMACIST_A).status_code == 201
