"""An outsider against the Pro Santé Connect login start and poll (services/psc_login.py), on
in-memory ports whose clock the test moves: what they learn from how long an answer takes, and
what a start for an identifier they typed leaves behind."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest

from chalicelib.config import get_settings
from chalicelib.domain.audit_chain import AuditEvent
from chalicelib.domain.model import Role
from chalicelib.domain.psc import (
    AccessDenied,
    AuthorizationPending,
    CibaProblem,
    PscLoginPolicy,
    TooManyStarts,
)
from chalicelib.ports import CibaRequest, Membership, RequestMeta
from chalicelib.services import psc_login
from chalicelib.services.refusals import UnauthenticatedRefusals
from testkit.fakes import (
    FakeJournal,
    FakeMemberships,
    FakePscLogins,
    FakePscProvider,
    FakePscStartLimits,
    FakeSessionIssuer,
    FixedClock,
    login_command,
)
from tests.psc import PscWorld

PHARMACY = "750000010"
INVITED = "810000000001"
INVITED_UNKNOWN_TO_PSC = "810000000009"
PSC_ANSWERS_IN = 0.4  # seconds
PSC_TOKEN_ENDPOINT_ANSWERS_IN = 0.2  # seconds
JOURNAL_APPENDS_IN = 0.1  # seconds: a chained, signed event is a few round trips


class SlowJournal(FakeJournal):
    def __init__(self, clock: FixedClock) -> None:
        super().__init__()
        self.clock = clock

    def append(self, event: AuditEvent, changes: object = ()) -> None:
        self.clock.advance(seconds=JOURNAL_APPENDS_IN)
        super().append(event)


class SlowPsc(FakePscProvider):
    def __init__(self, clock: FixedClock) -> None:
        super().__init__(known={INVITED}, directory={INVITED: (PHARMACY,)})
        self.clock = clock
        self.terms = (120, 5)  # expires_in, interval

    def authorize(self, national_id: str, binding_message: str) -> CibaRequest:
        self.clock.advance(seconds=PSC_ANSWERS_IN)
        request = super().authorize(national_id, binding_message)
        expires_in, interval = self.terms
        return CibaRequest(request.auth_req_id, expires_in, interval)

    def poll(self, auth_req_id: str) -> dict[str, Any]:
        self.clock.advance(seconds=PSC_TOKEN_ENDPOINT_ANSWERS_IN)
        return super().poll(auth_req_id)


def deps() -> psc_login.PscLoginDeps:
    clock = FixedClock()
    memberships = FakeMemberships()
    for national_id in (INVITED, INVITED_UNKNOWN_TO_PSC):
        memberships.add(
            Membership(f"psc-{national_id}", Role.PHARMACIST, PHARMACY, national_id=national_id),
            created_by="t",
        )
    journal = SlowJournal(clock)
    return psc_login.PscLoginDeps(
        provider=SlowPsc(clock),
        logins=FakePscLogins(),
        memberships=memberships,
        issuer=FakeSessionIssuer(),
        journal=journal,
        clock=clock,
        limits=FakePscStartLimits(),
        refusals=UnauthenticatedRefusals(journal, clock),
        policy=PscLoginPolicy(),
        random=lambda: 0.5,  # no jitter: the times compare exactly
        monotonic=lambda: clock.now().timestamp(),
        sleep=lambda seconds: clock.advance(seconds=seconds),
    )


def _took(d: psc_login.PscLoginDeps, national_id: str, source: str) -> float:
    assert isinstance(d.clock, FixedClock)
    began = d.clock.now()
    psc_login.start_login(
        d, RequestMeta(request_id="r", source_ip=source), login_command({"national_id": national_id})
    )
    return (d.clock.now() - began).total_seconds()


def test_a_start_takes_as_long_whether_it_journals_a_member_s_start_or_a_refusal_or_nothing() -> None:
    """The invited start sends a push and appends its event to the pharmacy's chain; a start that
    leads nowhere journals one refusal per source and window, then nothing: without padding the
    journal's time too, every start after the first in a window answers faster for an identifier
    nobody invited, and a few starts tell a member from a stranger."""
    d = deps()
    invited = [_took(d, INVITED, "198.51.100.7") for _ in range(2)]
    others = [
        _took(d, national_id, "203.0.113.9")
        for national_id in ("810000000099", "810000000098", "810000000097", INVITED_UNKNOWN_TO_PSC)
    ]
    assert invited == [PSC_ANSWERS_IN + JOURNAL_APPENDS_IN] * 2
    assert all(abs(t - invited[0]) < 1e-6 for t in others), (invited, others)


def test_a_fresh_process_does_not_answer_a_stranger_s_identifier_at_once() -> None:
    """A process that has sent no push yet (after a deploy, a scale-out, or a quiet night's recycled
    functions) has measured nothing: answering a start that leads nowhere at once, while an
    invited one waits for PSC, is a clean membership oracle on the first start it serves."""
    stranger = _took(deps(), "810000000099", "203.0.113.9")
    member = _took(deps(), INVITED, "198.51.100.7")
    assert stranger >= psc_login.ASSUMED_PUSH_START_SECONDS * 0.8
    assert member == PSC_ANSWERS_IN + JOURNAL_APPENDS_IN


def _poll_took(d: psc_login.PscLoginDeps, login_id: str) -> tuple[str, float]:
    assert isinstance(d.clock, FixedClock)
    began = d.clock.now()
    with pytest.raises(CibaProblem) as answer:
        psc_login.poll_login(d, RequestMeta(request_id="r", source_ip="203.0.113.9"), login_id)
    return answer.value.error_code, (d.clock.now() - began).total_seconds()


def test_a_poll_takes_as_long_whether_our_server_asks_psc_or_the_login_leads_nowhere() -> None:
    """Our server polls PSC's token endpoint for a login that sent a push, and asks nobody for one
    that leads nowhere: answered at once, every poll of the stranger's login (24 per login) would
    tell it from a member's, whatever the start's answer time hid."""
    d = deps()
    assert isinstance(d.clock, FixedClock)
    meta = RequestMeta(request_id="r", source_ip="203.0.113.9")
    member = psc_login.start_login(d, meta, login_command({"national_id": INVITED}))
    stranger = psc_login.start_login(d, meta, login_command({"national_id": "810000000099"}))
    d.clock.advance(seconds=member.interval)
    assert _poll_took(d, member.login_id) == (AuthorizationPending.error_code, PSC_TOKEN_ENDPOINT_ANSWERS_IN)
    for _ in range(3):
        d.clock.advance(seconds=member.interval)
        code, took = _poll_took(d, stranger.login_id)
        assert code in {AuthorizationPending.error_code, AccessDenied.error_code}
        assert abs(took - PSC_TOKEN_ENDPOINT_ANSWERS_IN) < 1e-6, took


def test_an_expired_login_answers_as_fast_for_a_stranger_as_for_a_member() -> None:
    """A member's login that ends (expired, declined) appends its refusal to their pharmacy's chain;
    a stranger's adds to an aggregated tally, journaled once per source and window. Without
    padding, the last poll of every login after the first of a window tells them apart."""
    d = deps()
    assert isinstance(d.clock, FixedClock)
    meta = RequestMeta(request_id="r", source_ip="203.0.113.9")
    logins = [
        psc_login.start_login(d, meta, login_command({"national_id": national_id})).login_id
        for national_id in (INVITED, "810000000099", "810000000098", "810000000097")
    ]
    d.clock.advance(seconds=PscLoginPolicy().expires_in_seconds)
    took = [_poll_took(d, login_id) for login_id in logins]
    assert {code for code, _ in took} == {"expired_token"}
    assert took[0][1] == JOURNAL_APPENDS_IN
    assert all(abs(t - took[0][1]) < 1e-6 for _, t in took[1:]), took


def test_a_stranger_s_login_keeps_the_interval_and_expiry_psc_gives_a_member_s() -> None:
    """PSC may ask for a longer interval, or expire its requests sooner, than our policy: a member's
    login then answers that interval and expires that soon, a stranger's did not."""
    d = deps()
    assert isinstance(d.clock, FixedClock) and isinstance(d.provider, SlowPsc)
    d.provider.terms = (60, 10)  # PSC's expires_in and interval
    meta = RequestMeta(request_id="r", source_ip="203.0.113.9")
    member = psc_login.start_login(d, meta, login_command({"national_id": INVITED}))
    stranger = psc_login.start_login(d, meta, login_command({"national_id": "810000000099"}))
    assert (member.interval, member.expires_in) == (stranger.interval, stranger.expires_in)
    d.clock.advance(seconds=60)
    assert _poll_took(d, member.login_id)[0] == "expired_token"
    assert _poll_took(d, stranger.login_id)[0] == "expired_token"


def test_two_polls_racing_on_an_approved_login_mint_one_session() -> None:
    """One handle, one session, even if PSC answered its token endpoint twice for the same request:
    a second poll that arrives while the first verifies PSC's answer (userinfo over the network)
    must not complete the login a second time."""
    d = deps()
    assert isinstance(d.clock, FixedClock) and isinstance(d.provider, SlowPsc)
    assert isinstance(d.issuer, FakeSessionIssuer)
    meta = RequestMeta(request_id="r", source_ip="203.0.113.9")
    started = psc_login.start_login(d, meta, login_command({"national_id": INVITED}))
    d.provider.approve(INVITED, started.binding_message)
    provider, clock = d.provider, d.clock
    verify = provider.verified_userinfo
    second: list[object] = []

    def slow_userinfo(tokens: dict[str, Any]) -> dict[str, Any]:
        if not second:  # the first poll's userinfo takes longer than the interval
            second.append(None)
            clock.advance(seconds=started.interval)
            try:
                second[0] = psc_login.poll_login(d, meta, started.login_id)
            except CibaProblem as problem:
                second[0] = problem
        return verify(tokens)

    provider.verified_userinfo = slow_userinfo  # type: ignore[method-assign]
    d.clock.advance(seconds=started.interval)
    try:
        first: object = psc_login.poll_login(d, meta, started.login_id)
    except CibaProblem as problem:
        first = problem
    assert len(d.issuer.issued) == 1, (first, second)


def test_rotating_ipv6_addresses_inside_one_prefix_add_one_refusal_event_per_window() -> None:
    """The start limit counts an IPv6 source by its /64 (one subscriber's prefix); the aggregated
    refusals must too: a new address per start would otherwise open a new tally, one year-long
    event on the platform chain each, up to the refusals' source cap per process and window."""
    d = deps()
    assert isinstance(d.journal, FakeJournal)
    for i in range(60):
        source = f"2001:db8:1:2::{i + 1:x}"
        with contextlib.suppress(TooManyStarts):
            psc_login.start_login(
                d,
                RequestMeta(request_id="r", source_ip=source),
                login_command({"national_id": f"8200000{i:05d}"}),
            )
    assert len(d.journal.events) <= 2, [e.action for e in d.journal.events]


def test_x_forwarded_for_does_not_change_the_source_a_start_is_counted_against(psc: PscWorld) -> None:
    """The source is API Gateway's `sourceIp` (the connection's peer), never a header the caller
    writes: a new X-Forwarded-For per start does not buy new starts."""
    http = psc.world.client.http
    answers = [
        http.post(
            "/v1/psc/logins",
            headers={"Content-Type": "application/json", "X-Forwarded-For": f"198.51.100.{i}"},
            body=json.dumps({"national_id": f"8300000{i:05d}"}),
        ).status_code
        for i in range(get_settings().psc_starts_per_source + 1)
    ]
    assert answers[:-1] == [201] * (len(answers) - 1) and answers[-1] == 429


def test_the_waf_logs_keep_no_login_handle_from_a_poll_s_path() -> None:
    """The poll's path carries the login's handle, the one secret that collects the session once
    the pharmacist approves their own push: whoever reads the WAF's logs (every request's URI)
    could poll a pending login before the app does. API Gateway's access log and ours name the
    route template only; the WAF log must not keep the path either."""
    from infra.template.api import waf

    logging = waf("v1", "dev")["WafLogging"]["Properties"]
    assert {"UriPath": {}} in logging["RedactedFields"]
