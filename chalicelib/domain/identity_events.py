"""Which of the identity provider's calls end a user's sessions, and the EventBridge pattern that
matches them: what the function's rule (chalicelib/api/identity_events.py) needs at import, apart
from the handling (chalicelib/services/identity_events.py), which only an invocation loads."""

from __future__ import annotations

from typing import Any

COGNITO_EVENT_SOURCE = "cognito-idp.amazonaws.com"
# The envelope's source of CloudTrail's records of the user pools API. EventBridge refuses any
# PutEvents whose source starts with "aws.", so only AWS sends it; the detail, anyone allowed to
# put events on the account's bus can shape as CloudTrail's.
EVENTBRIDGE_SOURCE = "aws.cognito-idp"
# CloudTrail's management events of the user pools API that end a user's sessions: the admin's
# disable, delete and global sign-out, and the user's own global sign-out and deletion.
SESSION_ENDING_CALLS = (
    "AdminDisableUser",
    "AdminDeleteUser",
    "AdminUserGlobalSignOut",
    "GlobalSignOut",
    "DeleteUser",
)
# What EventBridge matches (the Lambda's rule, chalicelib/api/identity_events.py): AWS's source, and
# in its record the user pools API's calls.
EVENT_PATTERN: dict[str, Any] = {
    "source": [EVENTBRIDGE_SOURCE],
    "detail-type": ["AWS API Call via CloudTrail"],
    "detail": {"eventSource": [COGNITO_EVENT_SOURCE], "eventName": list(SESSION_ENDING_CALLS)},
}
