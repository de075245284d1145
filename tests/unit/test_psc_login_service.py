"""The Pro Santé Connect login (CIBA, poll mode, through this server) on in-memory ports: only an
invited professional starts one, polls keep PSC's interval, the directory must vouch for them at
their pharmacy, and a membership revoked meanwhile counts."""

from __future__ import annotations

import pytest

from chalicelib.api import render
from chalicelib.domain.model import Role
from chalicelib.domain.psc import AuthorizationPending, PscRefused, SlowDown, UnknownIdentifier, UnknownLogin
from chalicelib.ports import Membership, RequestMeta
from chalicelib.services import psc_login
from tests.fakes import (
    FakeJournal,
    FakeMemberships,
    FakePscLogins,
    FakePscProvider,
    FakeSessionIssuer,
    FixedClock,
)

PHARMACY = "750000010"
NATIONAL_ID = "810000000001"
USERNAME = "psc-810000000001"
META = RequestMeta(request_id="r-1")


def deps(invited: bool = True, directory: tuple[str, ...] = (PHARMACY,)) -> psc_login.PscLoginDeps:
    memberships = FakeMemberships()
    if invited:
        memberships.add(
            Membership(USERNAME, Role.PHARMACIST, PHARMACY, national_id=NATIONAL_ID), created_by="t"
        )
    provider = FakePscProvider(known={NATIONAL_ID}, directory={NATIONAL_ID: directory})
    return psc_login.PscLoginDeps(
        provider=provider,
        logins=FakePscLogins(),
        memberships=memberships,
        issuer=FakeSessionIssuer(),
        journal=FakeJournal(),
        clock=FixedClock(),
    )


def parts(d: psc_login.PscLoginDeps) -> tuple[FakePscProvider, FixedClock, FakeJournal, FakePscLogins]:
    assert isinstance(d.provider, FakePscProvider) and isinstance(d.clock, FixedClock)
    assert isinstance(d.journal, FakeJournal) and isinstance(d.logins, FakePscLogins)
    return d.provider, d.clock, d.journal, d.logins


def test_nobody_invited_starts_no_login_and_the_refusal_is_journaled() -> None:
    d = deps(invited=False)
    with pytest.raises(UnknownIdentifier):
        psc_login.start_login(d, META, {"national_id": NATIONAL_ID})
    assert parts(d)[2].actions() == [("psc_login_start", "denied")]


def test_an_invited_pharmacist_approves_and_gets_a_session_after_pending_and_slow_down() -> None:
    d = deps()
    provider, clock, journal, logins = parts(d)
    started = psc_login.start_login(d, META, {"national_id": NATIONAL_ID})
    assert set(render.login_started(started)) == {"login_id", "binding_message", "expires_in", "interval"}
    assert started.login_id not in str(logins.logins)  # only its digest is kept
    with pytest.raises(SlowDown):  # before the interval
        psc_login.poll_login(d, META, started.login_id)
    clock.advance(seconds=started.interval + 10)
    with pytest.raises(AuthorizationPending):
        psc_login.poll_login(d, META, started.login_id)
    provider.approve(NATIONAL_ID)
    clock.advance(seconds=started.interval + 10)
    answer = psc_login.poll_login(d, META, started.login_id)
    assert answer.access_token.startswith("session-") and render.session(answer)["token_type"] == "Bearer"
    assert logins.logins == {} and journal.actions()[-1] == ("psc_login", "success")
    with pytest.raises(UnknownLogin):  # one handle, one session
        psc_login.poll_login(d, META, started.login_id)


def test_the_directory_must_list_them_as_a_pharmacist_at_this_pharmacy() -> None:
    d = deps(directory=("130000029",))
    provider, clock, journal, logins = parts(d)
    started = psc_login.start_login(d, META, {"national_id": NATIONAL_ID})
    provider.approve(NATIONAL_ID)
    clock.advance(seconds=60)
    with pytest.raises(PscRefused):
        psc_login.poll_login(d, META, started.login_id)
    assert logins.logins == {} and journal.actions()[-1] == ("psc_login", "denied")


def test_a_membership_revoked_while_the_login_waits_gets_no_session() -> None:
    d = deps()
    provider, clock, journal, _ = parts(d)
    started = psc_login.start_login(d, META, {"national_id": NATIONAL_ID})
    assert isinstance(d.memberships, FakeMemberships)
    d.memberships.members.clear()
    provider.approve(NATIONAL_ID)
    clock.advance(seconds=60)
    with pytest.raises(PscRefused):
        psc_login.poll_login(d, META, started.login_id)
    assert isinstance(d.issuer, FakeSessionIssuer) and d.issuer.issued == []
    assert journal.events[-1].reason == "membership revoked"
