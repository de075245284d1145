"""The identity provider's side of a session: Cognito calls that end a user's sessions (disable,
delete, global sign-out), as CloudTrail records them and EventBridge delivers them, end the
user's access tokens on their next request (chalicelib/services/identity_events.py).

AWS only: the local stack has no CloudTrail, and its admin tool (operations/users.py) delivers the
same event to the same job."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import jobs
from chalicelib.domain.identity_events import EVENT_PATTERN

blueprint = Blueprint(__name__)


@blueprint.on_cw_event(EVENT_PATTERN, name="end_cognito_sessions")
def end_cognito_sessions(event: Any) -> dict[str, Any]:
    return jobs.end_sessions_on_identity_event(event.detail, source=event.source)
