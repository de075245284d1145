"""The Pro Santé Connect login (CIBA, poll mode, through this server) on in-memory ports: every
start answers the same shape and only an invited professional gets a push, starts are limited per
identifier and per source, the professional approves only the push showing their app's code,
polls keep the interval, the directory must vouch for them at their pharmacy, a membership revoked
meanwhile counts, and the session names the pharmacy it was vouched for."""

from __future__ import annotations

import contextlib
import re

import pytest

from chalicelib.domain.model import Role
from chalicelib.domain.outcomes import LoginStarted
from chalicelib.domain.psc import (
    BINDING_ALPHABET,
    BINDING_LENGTH,
    NOT_APPROVED,
    AccessDenied,
    AuthorizationPending,
    LoginExpired,
    PscLoginPolicy,
    PscRefused,
    SlowDown,
    TooManyStarts,
    UnknownLogin,
)
from chalicelib.payloads import PSC_LOGIN, PSC_TOKEN
from chalicelib.ports import Membership, RequestMeta
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

PHARMACY = "750000010"
NATIONAL_ID = "810000000001"
NOBODY_INVITED = "810000000099"
INVITED_UNKNOWN_TO_PSC = "810000000009"
USERNAME = "psc-810000000001"
META = RequestMeta(request_id="r-1", source_ip="198.51.100.7")
POLICY = PscLoginPolicy()


def deps(
    invited: bool = True, directory: tuple[str, ...] = (PHARMACY,), declined_share: float = 1.0
) -> psc_login.PscLoginDeps:
    memberships = FakeMemberships()
    if invited:
        memberships.add(
            Membership(USERNAME, Role.PHARMACIST, PHARMACY, national_id=NATIONAL_ID), created_by="t"
        )
        memberships.add(
            Membership(
                f"psc-{INVITED_UNKNOWN_TO_PSC}",
                Role.PHARMACIST,
                PHARMACY,
                national_id=INVITED_UNKNOWN_TO_PSC,
            ),
            created_by="t",
        )
    provider = FakePscProvider(known={NATIONAL_ID}, directory={NATIONAL_ID: directory})
    journal, clock = FakeJournal(), FixedClock()
    return psc_login.PscLoginDeps(
        provider=provider,
        logins=FakePscLogins(),
        memberships=memberships,
        issuer=FakeSessionIssuer(),
        journal=journal,
        clock=clock,
        limits=FakePscStartLimits(),
        refusals=UnauthenticatedRefusals(journal, clock),
        policy=PscLoginPolicy(declined_share=declined_share),
        random=lambda: 0.5,
        monotonic=lambda: clock.now().timestamp(),
        sleep=lambda seconds: clock.advance(seconds=seconds),
    )


def parts(d: psc_login.PscLoginDeps) -> tuple[FakePscProvider, FixedClock, FakeJournal, FakePscLogins]:
    assert isinstance(d.provider, FakePscProvider) and isinstance(d.clock, FixedClock)
    assert isinstance(d.journal, FakeJournal) and isinstance(d.logins, FakePscLogins)
    return d.provider, d.clock, d.journal, d.logins


def start(d: psc_login.PscLoginDeps, national_id: str = NATIONAL_ID, meta: RequestMeta = META) -> object:
    return psc_login.start_login(d, meta, login_command({"national_id": national_id}))


def test_an_invited_pharmacist_approves_their_code_and_gets_a_session_after_pending_and_slow_down() -> None:
    d = deps()
    provider, clock, journal, logins = parts(d)
    started = psc_login.start_login(d, META, login_command({"national_id": NATIONAL_ID}))
    assert set(PSC_LOGIN.render(started)) == {"login_id", "binding_message", "expires_in", "interval"}
    assert re.fullmatch(f"[{BINDING_ALPHABET}]{{{BINDING_LENGTH}}}", started.binding_message)
    assert provider.pushes(NATIONAL_ID) == [started.binding_message]  # the push shows the same code
    assert started.login_id not in str(logins.logins)  # only its digest is kept
    with pytest.raises(SlowDown):  # before the interval
        psc_login.poll_login(d, META, started.login_id)
    clock.advance(seconds=started.interval + 10)
    with pytest.raises(AuthorizationPending):
        psc_login.poll_login(d, META, started.login_id)
    assert provider.approve(NATIONAL_ID, started.binding_message)
    clock.advance(seconds=started.interval + 10)
    answer = psc_login.poll_login(d, META, started.login_id)
    assert answer.access_token.startswith("session-") and PSC_TOKEN.render(answer)["token_type"] == "Bearer"
    assert isinstance(d.issuer, FakeSessionIssuer) and d.issuer.pharmacies == [PHARMACY]
    assert logins.logins == {} and journal.actions()[-1] == ("psc_login", "success")
    with pytest.raises(UnknownLogin):  # one handle, one session
        psc_login.poll_login(d, META, started.login_id)


def test_a_login_started_by_someone_else_is_not_approved_by_the_professionals_own_code() -> None:
    """The attack: start a login for a known RPPS and wait for a push approved out of habit. The
    professional approves the push showing the code *their* app shows, never the attacker's."""
    d = deps()
    provider, clock, _, _ = parts(d)
    attacker = psc_login.start_login(
        d, RequestMeta(source_ip="203.0.113.66"), login_command({"national_id": NATIONAL_ID})
    )
    own = psc_login.start_login(d, META, login_command({"national_id": NATIONAL_ID}))
    assert own.binding_message != attacker.binding_message
    assert provider.approve(NATIONAL_ID, own.binding_message)
    clock.advance(seconds=POLICY.interval_seconds)
    with pytest.raises(AuthorizationPending):
        psc_login.poll_login(d, RequestMeta(source_ip="203.0.113.66"), attacker.login_id)
    assert psc_login.poll_login(d, META, own.login_id).access_token
    clock.advance(seconds=POLICY.expires_in_seconds)
    with pytest.raises(LoginExpired):
        psc_login.poll_login(d, RequestMeta(source_ip="203.0.113.66"), attacker.login_id)


@pytest.mark.parametrize("national_id", [NATIONAL_ID, NOBODY_INVITED, INVITED_UNKNOWN_TO_PSC])
def test_every_start_answers_the_same_shape_invited_or_not(national_id: str) -> None:
    d = deps()
    started = start(d, national_id)
    assert isinstance(started, LoginStarted)
    answer = PSC_LOGIN.render(started)
    assert set(answer) == {"login_id", "binding_message", "expires_in", "interval"}
    assert (answer["expires_in"], answer["interval"]) == (POLICY.expires_in_seconds, POLICY.interval_seconds)
    assert len(answer["binding_message"]) == BINDING_LENGTH and len(answer["login_id"]) == 43


def test_an_identifier_nobody_invited_wakes_no_e_cps_and_is_not_approved_after_a_human_delay() -> None:
    d = deps()
    provider, clock, journal, logins = parts(d)
    started = psc_login.start_login(d, META, login_command({"national_id": NOBODY_INVITED}))
    assert provider.requests == {}  # nobody's e-CPS was woken up
    low, high = POLICY.declined_after_seconds
    clock.advance(seconds=low)  # random() is 0.5 here: not approved at low + (high - low) / 2
    with pytest.raises(AuthorizationPending):  # as a live push, for a while
        psc_login.poll_login(d, META, started.login_id)
    clock.advance(seconds=(high - low) / 2)
    with pytest.raises(AccessDenied) as denied:
        psc_login.poll_login(d, META, started.login_id)
    assert denied.value.detail == NOT_APPROVED and logins.logins == {}
    assert all(NOBODY_INVITED not in e.reason and e.finess is None for e in journal.events)


def test_a_push_the_professional_declines_answers_what_an_identifier_that_leads_nowhere_answers() -> None:
    d = deps()
    provider, clock, _, _ = parts(d)
    started = psc_login.start_login(d, META, login_command({"national_id": NATIONAL_ID}))
    assert provider.decline(NATIONAL_ID, started.binding_message)
    clock.advance(seconds=POLICY.interval_seconds)
    with pytest.raises(AccessDenied) as denied:
        psc_login.poll_login(d, META, started.login_id)
    assert denied.value.detail == NOT_APPROVED


def test_an_identifier_that_leads_nowhere_may_also_expire_like_an_unanswered_push() -> None:
    d = deps(declined_share=0.0)
    _, clock, _, _ = parts(d)
    started = psc_login.start_login(d, META, login_command({"national_id": INVITED_UNKNOWN_TO_PSC}))
    for _ in range(POLICY.expires_in_seconds // POLICY.interval_seconds - 1):
        clock.advance(seconds=POLICY.interval_seconds)
        with pytest.raises(AuthorizationPending):
            psc_login.poll_login(d, META, started.login_id)
    clock.advance(seconds=POLICY.interval_seconds)
    with pytest.raises(LoginExpired):
        psc_login.poll_login(d, META, started.login_id)


def test_starts_per_identifier_are_limited_per_window_with_retry_after() -> None:
    d = deps()
    provider, clock, _, _ = parts(d)
    for i in range(POLICY.starts_per_identifier):
        start(d, NATIONAL_ID, RequestMeta(source_ip=f"203.0.113.{i}"))
    with pytest.raises(TooManyStarts) as refused:
        start(d, NATIONAL_ID, RequestMeta(source_ip="203.0.113.200"))
    assert len(provider.requests) == POLICY.starts_per_identifier  # no more pushes than the limit
    assert refused.value.retry_after_seconds is not None
    assert 0 < refused.value.retry_after_seconds <= POLICY.window_seconds
    clock.advance(seconds=refused.value.retry_after_seconds)
    start(d, NATIONAL_ID)  # the next window


@pytest.mark.parametrize("national_id", [NATIONAL_ID, NOBODY_INVITED])
def test_the_identifier_limit_is_the_same_invited_or_not(national_id: str) -> None:
    d = deps()
    for _ in range(POLICY.starts_per_identifier):
        start(d, national_id)
    with pytest.raises(TooManyStarts):
        start(d, national_id)


def test_starts_per_source_are_limited_whatever_the_identifiers() -> None:
    d = deps()
    for i in range(POLICY.starts_per_source):
        start(d, f"8100000{i:05d}")
    with pytest.raises(TooManyStarts):
        start(d, "810000099999")
    start(d, "810000099999", RequestMeta(source_ip="198.51.100.8"))  # another source


def test_an_ipv6_source_is_counted_by_its_64_prefix() -> None:
    d = deps()
    for i in range(POLICY.starts_per_source):
        start(d, f"8100000{i:05d}", RequestMeta(source_ip=f"2001:db8:1:2::{i:x}"))
    with pytest.raises(TooManyStarts):
        start(d, "810000099999", RequestMeta(source_ip="2001:db8:1:2:ffff::1"))
    start(d, "810000099999", RequestMeta(source_ip="2001:db8:1:3::1"))  # another subscriber
    assert psc_login.source_of("203.0.113.7") == "203.0.113.7"
    assert psc_login.source_of("2001:db8:1:2::9") == "2001:db8:1:2::/64"


def test_a_start_that_sends_no_push_takes_about_as_long_as_one_that_does() -> None:
    d = deps()
    provider, clock, _, _ = parts(d)
    authorize = provider.authorize

    def slow_psc(national_id: str, binding_message: str) -> object:
        clock.advance(seconds=0.4)  # PSC's answer time
        return authorize(national_id, binding_message)

    provider.authorize = slow_psc  # type: ignore[method-assign,assignment]
    took = []
    for national_id in (NATIONAL_ID, NOBODY_INVITED, INVITED_UNKNOWN_TO_PSC, "810000000098"):
        began = clock.now()
        start(d, national_id)
        took.append((clock.now() - began).total_seconds())
    assert all(0.8 * 0.4 <= t <= 1.2 * 0.4 for t in took), took


def test_a_hundred_starts_for_unknown_identifiers_add_at_most_one_event_per_window() -> None:
    d = deps()
    _, clock, journal, _ = parts(d)
    windows = set()
    for i in range(100):
        windows.add(int(clock.now().timestamp()) // 300)
        with contextlib.suppress(TooManyStarts):
            start(d, f"8200000{i:05d}")
        clock.advance(seconds=7)
    assert len(journal.events) <= len(windows)
    assert all(e.finess is None and "8200000" not in e.reason for e in journal.events)


def test_early_polls_are_not_journaled_one_by_one_on_the_pharmacy_chain() -> None:
    d = deps()
    _, _, journal, _ = parts(d)
    started = psc_login.start_login(d, META, login_command({"national_id": NATIONAL_ID}))
    for _ in range(20):
        with pytest.raises(SlowDown):
            psc_login.poll_login(d, META, started.login_id)
    pharmacy_events = [e for e in journal.events if e.finess == PHARMACY]
    assert [e.action for e in pharmacy_events] == ["psc_login_start"]
    assert len([e for e in journal.events if e.action == "psc_login_poll"]) == 1


def test_the_directory_must_list_them_as_a_pharmacist_at_this_pharmacy() -> None:
    d = deps(directory=("130000029",))
    provider, clock, journal, logins = parts(d)
    started = psc_login.start_login(d, META, login_command({"national_id": NATIONAL_ID}))
    provider.approve(NATIONAL_ID, started.binding_message)
    clock.advance(seconds=60)
    with pytest.raises(PscRefused):
        psc_login.poll_login(d, META, started.login_id)
    assert logins.logins == {} and journal.actions()[-1] == ("psc_login", "denied")


def test_a_membership_revoked_while_the_login_waits_gets_no_session() -> None:
    d = deps()
    provider, clock, journal, _ = parts(d)
    started = psc_login.start_login(d, META, login_command({"national_id": NATIONAL_ID}))
    assert isinstance(d.memberships, FakeMemberships)
    d.memberships.members.clear()
    provider.approve(NATIONAL_ID, started.binding_message)
    clock.advance(seconds=60)
    with pytest.raises(PscRefused):
        psc_login.poll_login(d, META, started.login_id)
    assert isinstance(d.issuer, FakeSessionIssuer) and d.issuer.issued == []
    assert journal.events[-1].reason == "membership revoked"
